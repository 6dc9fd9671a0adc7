"""A corpus of bad inputs, generated (no committed binaries): images, sidecars, label files, checkpoints.

Each ``BadInput`` builds one project folder (or one checkpoint file) and names the file at
fault, which every clear error message must mention. ``tests/gui/test_gui_bad_input_corpus.py``
runs each through the API, the command line and the offscreen window.

    python tests/gui/bad_input_corpus.py OUT_DIR     # write the corpus to look at it
"""

from __future__ import annotations

import io
import json
import os
import struct
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

GOOD = "good.png"
SIZE = (48, 64)  # H, W of every generated image


@dataclass(frozen=True)
class BadInput:
    """One bad input: ``kind`` (image, sidecar, labels, checkpoint), a ``name``, and ``build(folder)``,
    which writes it and returns the file at fault (for checkpoints: the checkpoint itself)."""

    kind: str
    name: str
    build: Callable[[Path], Path]


def _rgb(seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((*SIZE, 3)) * 255).astype(np.uint8)


def _png_bytes(seed: int = 0, mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(_rgb(seed)).convert(mode).save(buf, format="PNG")
    return buf.getvalue()


def _jpeg_bytes(seed: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(_rgb(seed)).save(buf, format="JPEG")
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png_claiming(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _chunk(b"IEND", b"")


def _project(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / GOOD).write_bytes(_png_bytes(1))
    return folder


# ----------------------------------------------------------------------------- images

def _image(name: str, content: bytes | Callable[[Path], None]) -> BadInput:
    def build(folder: Path) -> Path:
        _project(folder)
        path = folder / name
        if callable(content):
            content(path)
        else:
            path.write_bytes(content)
        return path

    return BadInput("image", name, build)


def _sparse(path: Path) -> None:
    with open(path, "wb") as f:
        f.truncate(1 << 30)


def _bad_crc(path: Path) -> None:
    data = bytearray(_png_bytes(2))
    data[29] ^= 0xFF  # inside IHDR's CRC
    path.write_bytes(bytes(data))


def _bmp_claiming(path: Path) -> None:
    header = b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, 60000, 60000, 1, 24, 0, 0, 0, 0, 0, 0)
    path.write_bytes(header + b"\0" * 16)


def _folder(path: Path) -> None:
    path.mkdir()


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _loop(path: Path) -> None:
    os.symlink(path.name, path)


def _dangling(path: Path) -> None:
    os.symlink("does-not-exist.png", path)


def _exif_orientation(value: int) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        exif = Image.Exif()
        exif[0x0112] = value
        Image.fromarray(_rgb(3)).save(path, format="JPEG", exif=exif.tobytes())

    return write


def _cmyk(path: Path) -> None:
    Image.fromarray(_rgb(4)).convert("CMYK").save(path, format="JPEG")


def _sixteen_bit(path: Path) -> None:
    Image.fromarray((np.arange(SIZE[0] * SIZE[1]).reshape(SIZE) * 13).astype(np.uint16)).save(path)


IMAGES = [
    _image("zero.png", b""),
    _image("text.jpg", b"this is not an image\n"),
    _image("truncated.jpg", _jpeg_bytes(5)[:300]),
    _image("truncated.png", _png_bytes(6)[:200]),
    _image("bomb.png", _png_claiming(65535, 65535)),
    _image("just_over.png", _png_claiming(20001, 20000)),
    _image("bad_crc.png", _bad_crc),
    _image("garbage.gif", b"GIF89a" + os.urandom(40)),
    _image("garbage.tif", b"II*\0" + os.urandom(60)),
    _image("claims_huge.bmp", _bmp_claiming),
    _image("garbage.webp", b"RIFF\x10\0\0\0WEBPVP8 " + os.urandom(20)),
    _image("png_named.jpg", _png_bytes(7)),  # wrong extension, a fine image: opens
    _image("folder.png", _folder),
    _image("pipe.png", _fifo),
    _image("loop.png", _loop),
    _image("dangling.png", _dangling),
    _image("sparse.png", _sparse),
    _image("exif9.jpg", _exif_orientation(9)),  # an orientation that does not exist
    _image("cmyk.jpg", _cmyk),
    _image("sixteen.png", _sixteen_bit),
    _image("one_pixel.png", lambda p: Image.new("RGB", (1, 1)).save(p)),
    _image("nul_name\u00e9\u6f22.png", _png_bytes(8)),  # non-ASCII name: opens
]


# ----------------------------------------------------------------------------- sidecars

def _sidecar(name: str, text: str | bytes) -> BadInput:
    def build(folder: Path) -> Path:
        _project(folder)
        (folder / f"{name}.png").write_bytes(_png_bytes(9))
        path = folder / f"{name}.json"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        return path

    return BadInput("sidecar", f"{name}.json", build)


def _doc(shapes, **extra) -> str:
    data = {"version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": "x.png", "imageData": None,
            "imageHeight": SIZE[0], "imageWidth": SIZE[1], **extra}
    return json.dumps(data)


def _shape(points, **extra):
    return {"label": "car", "points": points, "group_id": None, "shape_type": "polygon", "flags": {}, **extra}


SQUARE = [[5, 5], [30, 5], [30, 30], [5, 30]]
SIDECARS = [
    _sidecar("malformed", '{"version": "5.0", "shapes": [ {"label": "x",'),
    _sidecar("empty_json", ""),
    _sidecar("top_array", "[1, 2, 3]"),
    _sidecar("top_null", "null"),
    _sidecar("deep", "[" * 100000 + "]" * 100000),
    _sidecar("duplicate_shapes", '{"shapes": [], "imagePath": "x.png", "shapes": []}'),
    _sidecar("string_coords", _doc([_shape([["5", "5"], ["30", "5"], ["30", "30"]])])),
    _sidecar("huge_int", '{"shapes": [{"label": "car", "shape_type": "polygon", "points": [[1' + "0" * 400
             + ', 5], [30, 5], [30, 30]]}], "imagePath": "x.png"}'),
    _sidecar("nan", _doc([_shape([[float("nan"), 5], [30, 5], [30, 30]])])),
    _sidecar("infinity", _doc([_shape([[float("inf"), 5], [30, 5], [30, 30]])])),
    _sidecar("shapes_not_list", _doc({"a": 1})),
    _sidecar("shape_not_object", _doc([42])),
    _sidecar("points_not_list", _doc([_shape("5,5,30,30")])),
    _sidecar("two_points", _doc([_shape([[5, 5], [30, 30]])])),
    _sidecar("label_number", _doc([_shape(SQUARE, label=7)])),
    _sidecar("label_empty", _doc([_shape(SQUARE, label="")])),
    _sidecar("not_utf8", b'{"shapes": [], "imagePath": "caf\xe9.png"}'),
    _sidecar("rle_garbage", _doc([_shape(SQUARE, shape_type="mask", rle={"size": [1, 2], "counts": 12})])),
    _sidecar("mask_garbage", _doc([_shape([[5, 5], [30, 30]], shape_type="mask", mask="not base64!")])),
    _sidecar("holes_garbage", _doc([_shape(SQUARE, holes="lots")])),
    _sidecar("part_marker_garbage", _doc([_shape(SQUARE, samlabel_part="x", group_id=1)])),
    _sidecar("group_id_text", _doc([_shape(SQUARE, group_id="seven")])),
    _sidecar("flags_list", _doc([_shape(SQUARE, flags=[1, 2])])),
    _sidecar("circle_one_point", _doc([_shape([[5, 5]], shape_type="circle")])),
    _sidecar("rectangle_three", _doc([_shape([[5, 5], [9, 9], [12, 3]], shape_type="rectangle")])),
    _sidecar("three_coords", _doc([_shape([[5, 5, 1], [30, 5, 1], [30, 30, 1]])])),
    _sidecar("wrong_size", _doc([_shape(SQUARE)], imageHeight=4000, imageWidth=3000)),
    _sidecar("self_intersecting", _doc([_shape([[5, 5], [30, 30], [30, 5], [5, 30]])])),  # repaired: opens
    _sidecar("unknown_type", _doc([_shape(SQUARE, shape_type="hexagon")])),  # kept: opens
    _sidecar("bom", b"\xef\xbb\xbf" + _doc([_shape(SQUARE)]).encode()),  # a BOM: opens
]


# ----------------------------------------------------------------------------- label files

def _labels(file_name: str, content: bytes | Callable[[Path], None]) -> BadInput:
    def build(folder: Path) -> Path:
        _project(folder)
        (folder / "good.json").write_text(_doc([_shape(SQUARE)]).replace('"x.png"', '"good.png"'), encoding="utf-8")
        path = folder / file_name
        if callable(content):
            content(path)
        else:
            path.write_bytes(content)
        return path

    return BadInput("labels", f"{file_name}:{len(LABELS)}", build)


LABELS: list[BadInput] = []
for _file, _content in (
    ("labels.txt", b"caf\xe9\ncar\n"),
    ("labels.txt", b"\xef\xbb\xbfcar\nperson\n"),  # a BOM: fine
    ("labels.txt", b"car\x00\nperson\n"),
    ("labels.txt", b"car\n" * 3 + b"x" * 100000 + b"\n"),
    ("labels.txt", _folder),
    ("labels.json", b"[" * 100000 + b"]" * 100000),
    ("labels.json", b'{"labels": 5}'),
    ("labels.json", b"[1, 2, 3]"),
    ("labels.json", b'["car", ""]'),
    ("labels.json", b'{"car": 1'),
    ("labels.json", b'\xff\xfe{"a": 1}'),
    ("labels.json", b'["car", "car", "person"]'),  # duplicates: merged, fine
):
    LABELS.append(_labels(_file, _content))


# ----------------------------------------------------------------------------- checkpoints

def _checkpoint(name: str, write: Callable[[Path], None]) -> BadInput:
    def build(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        write(path)
        return path

    return BadInput("checkpoint", name, build)


def _torch_save(obj) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        import torch

        torch.save(obj, path)

    return write


def _truncated_state(path: Path) -> None:
    import torch

    from samlabel.sam.build import build_sam

    buf = io.BytesIO()
    torch.save(build_sam("vit_t").state_dict(), buf)
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])


def _code_pickle(path: Path) -> None:
    # a pickle that would run code when loaded unsafely: it must be refused, never run
    payload = (b"\x80\x04\x95\x1d\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x8c\x06system\x93\x8c\x05touch\x85R.")
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/version", "3\n")


def _hf_folder(path: Path) -> None:
    path.mkdir()
    (path / "config.json").write_text('{"model_type": "sam"}')
    (path / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + os.urandom(32))


CHECKPOINTS = [
    _checkpoint("random.pth", lambda p: p.write_bytes(os.urandom(4096))),
    _checkpoint("empty.pth", lambda p: p.write_bytes(b"")),
    _checkpoint("text.pth", lambda p: p.write_text("not a checkpoint\n")),
    _checkpoint("truncated.pth", _truncated_state),
    _checkpoint("wrong_keys.pth", _torch_save({"encoder.weight": [1.0, 2.0]})),
    _checkpoint("model_not_dict.pt", _torch_save({"model": [1, 2, 3]})),
    _checkpoint("code.pth", _code_pickle),
    _checkpoint("folder_without_weights", _folder),
    _checkpoint("pipe.pth", _fifo),
    _checkpoint("hf_garbage", _hf_folder),
    _checkpoint("garbage.safetensors", lambda p: p.write_bytes(os.urandom(256))),
    _checkpoint("loop.pth", _loop),
]

CORPUS: list[BadInput] = IMAGES + SIDECARS + LABELS + CHECKPOINTS


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python tests/gui/bad_input_corpus.py OUT_DIR", file=sys.stderr)
        return 2
    out = Path(argv[0])
    for i, item in enumerate(CORPUS):
        path = item.build(out / f"{i:02d}-{item.kind}")
        print(f"{item.kind:10s} {path}")
    print(f"{len(CORPUS)} inputs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
