"""Is a file the official checkpoint of a model, and which model does a file belong to?

    check = check_official_file("vit_t")           # None: nothing at the official location
    if check is not None and not check.official:
        print(check.describe(), check.advice())    # "... exists but is not the official vit_t checkpoint
                                                   #  (size 123 bytes, expected 40728226; SHA-256 mismatch)"
    model_name_for_file("sam_vit_b_01ec64.pth")    # "vit_b" (file name, else exact official size)
    model_name_for_file("sam2.1_hiera_b+.pt")      # "sam2.1_hiera_base_plus"
    official_file("sam2.1_hiera_tiny").sha256      # what is known of the official file, any family
    display_name("sam2.1_hiera_tiny")              # "SAM 2.1 Hiera tiny" (SAM 1 names unchanged)

Both model families are covered: SAM 1 / MobileSAM (``samlabel.sam.config``) and SAM 2 / 2.1
(``samlabel.sam.modeling.sam2.config``, names starting ``sam2``); :func:`official_file` gives
what is known of either's official file (URL, file name, hashes, size). Where no hash is
known, a check compares what it can (the size) and says so (``FileCheck.hashed`` is False).

A size comparison costs nothing and is all the app does before it loads a file found at the
official location (``hashes=False``); the model loader then compares the SHA-256 it computes
anyway (``known_sha256=``). Downloads compare every hash the config records. No Qt, no torch:
the SAM 2 registry is read without importing the SAM 2 model package (which imports torch).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from samlabel import paths
from samlabel.sam.config import SamConfig, config_names, get_config

__all__ = [
    "APP_MODELS", "EDGETAM_FILE", "EDGETAM_MODEL", "FileCheck", "OfficialFile", "SAM2_APP_MODELS", "check_file", "check_official_file",
    "display_name", "file_hashes", "is_sam2_name", "model_name_for_file", "official_file", "official_path",
    "sam2_model_names",
]

_CHUNK = 1 << 20
OFFICIAL_MODELS = ("vit_t", "vit_b", "vit_l", "vit_h")
SAM2_APP_MODELS = ("sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus", "sam2.1_hiera_large")
APP_MODELS = OFFICIAL_MODELS + SAM2_APP_MODELS
"""The models the app offers to download (Model ▸ Download model…), in that order. The SAM 2.0
files (``sam2_hiera_*``) are known too (recognised, checked, downloadable by name)."""
EDGETAM_MODEL = "edgetam"
"""Meta's EdgeTAM video tracker (the CPU default for propagation: ``samlabel.video.propagate``)."""
CLI_MODELS = (*APP_MODELS, EDGETAM_MODEL)
"""The names ``samlabel download`` accepts (``samlabel.cli.MODEL_CHOICES`` and ``edgetam``):
advice names the command only for these."""
# Words in a file name that say which model it is (lower case; "-" and "_" both accepted).
_NAME_HINTS = (
    ("vit_t", ("mobile_sam", "mobilesam", "vit_t")),
    ("vit_b", ("vit_b", "vitb", "sam-vit-base", "vit_base")),
    ("vit_l", ("vit_l", "vitl", "sam-vit-large", "vit_large")),
    ("vit_h", ("vit_h", "vith", "sam-vit-huge", "vit_huge")),
)


def file_hashes(path: Path) -> tuple[str, str]:
    """``(md5, sha256)`` hex digests of a file, read once."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            md5.update(chunk)
            sha.update(chunk)
    return md5.hexdigest(), sha.hexdigest()


def is_sam2_name(name: object) -> bool:
    """Whether ``name`` is a SAM 2 / 2.1 model name (``sam2.1_hiera_tiny``, ``sam2_hiera_b+``...)."""
    return isinstance(name, str) and name.startswith("sam2")


_SAM2_CONFIG_MODULE = "samlabel.sam.modeling.sam2.config"


def _sam2_registry() -> Any:
    """The SAM 2 config module. When the SAM 2 model package is not imported yet, its config
    file (plain dataclasses) is executed on its own, under a private name: importing it
    normally runs the package's ``__init__``, which imports torch, and the window and the
    download dialog must stay free of torch until a model is loaded."""
    module = sys.modules.get(_SAM2_CONFIG_MODULE)
    if module is not None:
        return module
    private = "samlabel.sam.files._sam2_registry"
    module = sys.modules.get(private)
    if module is not None:
        return module
    origin = Path(__file__).resolve().parents[1] / "modeling" / "sam2" / "config.py"
    spec = importlib.util.spec_from_file_location(private, origin)
    if spec is None or spec.loader is None:  # pragma: no cover - a broken install
        return importlib.import_module(_SAM2_CONFIG_MODULE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[private] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


# EdgeTAM: Meta's edgetam.pt ({"model": state_dict} in Meta's names; meta_mapping loads it), as
# Meta publishes it on Hugging Face (facebook/EdgeTAM). Meta also offers it as a GitHub release
# asset, EDGETAM_RELEASE_URL; no public record of that asset's hash was found, so it is not the
# registered URL ('samlabel download edgetam --url EDGETAM_RELEASE_URL' checks it against the
# hash and size below: it passes only if it is the same file). SHA-256 and size of the file at
# EDGETAM_URL, recorded identically by independent public projects:
# - the SHA-256 is pinned, and checked after download, by BoxMOT (its EdgeTAM weights resolver,
#   for exactly the URL below); by an unrelated video app's asset registry (its EdgeTAM tracker
#   entry, for checkpoints/edgetam.pt of facebookresearch/EdgeTAM at commit 7711e012, noting
#   "56,116,523 B"); by a Core ML export of EdgeTAM, which notes that it matches the
#   facebook/EdgeTAM Hugging Face file (revision f3a09791); and by further export records;
# - the size, 56,116,523 bytes, by that asset registry and by a mobile app's ONNX export notes
#   (with the same SHA-256); the Hugging Face file pages (model and Space) show 56.1 MB.
EDGETAM_URL = "https://huggingface.co/facebook/EdgeTAM/resolve/main/edgetam.pt"
EDGETAM_RELEASE_URL = "https://github.com/facebookresearch/EdgeTAM/releases/download/v1.0/edgetam.pt"
EDGETAM_SHA256 = "ed2d4850b8792c239689b043c47046ec239b6e808a3d9b6ae676c803fd8780df"
EDGETAM_SIZE = 56_116_523

_SIZE_WORDS = {"tiny": "tiny", "small": "small", "base_plus": "base+", "large": "large"}


def display_name(name: str) -> str:
    """The model's name for people: ``"SAM 2.1 Hiera tiny"``, ``"SAM 2 Hiera base+"``,
    ``"EdgeTAM"``; SAM 1 names (``vit_b``, ``vit_t``...) and unknown names are returned unchanged."""
    if name == EDGETAM_MODEL:
        return "EdgeTAM"
    match = re.fullmatch(r"sam2(\.1)?_hiera_(tiny|small|base_plus|large)", str(name))
    if match is None:
        return str(name)
    return f"SAM 2{match.group(1) or ''} Hiera {_SIZE_WORDS[match.group(2)]}"


@dataclass(frozen=True)
class OfficialFile:
    """What is known of a model's official checkpoint: where it comes from (``url``), its file
    name, and the ``md5`` / ``sha256`` / ``size`` it must have (each None when not known)."""

    model: str
    url: Optional[str]
    filename: Optional[str]
    md5: Optional[str] = None
    sha256: Optional[str] = None
    size: Optional[int] = None
    family: str = "sam1"  # "sam1" (SAM 1, MobileSAM), "sam2" (SAM 2 / 2.1) or "edgetam"

    @property
    def label(self) -> str:
        return display_name(self.model)

    @property
    def hash_known(self) -> bool:
        """Whether a download can be verified by a hash (else by its size and by loading it)."""
        return bool(self.md5 or self.sha256)


def official_file(name: Union[str, SamConfig, OfficialFile, Any]) -> OfficialFile:
    """What is known of the official checkpoint of ``name`` (a registered name of either family,
    a ``SamConfig``, a SAM 2 ``Sam2Config``, ``"edgetam"``). ``ValueError`` for an unknown name."""
    if isinstance(name, OfficialFile):
        return name
    if name == EDGETAM_MODEL:
        return EDGETAM_FILE
    if isinstance(name, SamConfig):
        return OfficialFile(name.name, name.checkpoint_url, name.checkpoint_filename, name.checkpoint_md5,
                            name.checkpoint_sha256, name.checkpoint_size, "sam1")
    if hasattr(name, "trunk") and hasattr(name, "checkpoint_url"):  # a Sam2Config
        return OfficialFile(name.name, name.checkpoint_url, name.checkpoint_filename, None,
                            getattr(name, "checkpoint_sha256", None), getattr(name, "checkpoint_size", None), "sam2")
    if is_sam2_name(name):
        return official_file(_sam2_registry().get_sam2_config(name))
    return official_file(get_config(name))


EDGETAM_FILE = OfficialFile(EDGETAM_MODEL, EDGETAM_URL, "edgetam.pt", None, EDGETAM_SHA256, EDGETAM_SIZE, "edgetam")
"""What is known of Meta's ``edgetam.pt`` (see the comment on :data:`EDGETAM_URL`)."""


def sam2_model_names() -> list[str]:
    """Every registered SAM 2 / 2.1 name (``sam2.1_hiera_tiny`` ... ``sam2_hiera_large``)."""
    return list(_sam2_registry().sam2_config_names())


@dataclass(frozen=True)
class FileCheck:
    """A file compared with a model's official checkpoint.

    ``problems`` lists what differs (``"size 123 bytes, expected 40728226"``,
    ``"SHA-256 mismatch"``); none means the file is the official one as far as it was
    checked (``hashed``: hashes were compared, not only the size).
    """

    path: Path
    model: str
    size: int
    expected_size: Optional[int]
    problems: tuple[str, ...] = ()
    hashed: bool = False

    @property
    def official(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        """One sentence for the user, naming the file and what differs."""
        if self.official:
            if self.hashed:
                how = "verified"
            elif self.expected_size is not None:
                how = "size checked"
            else:
                how = "not checked: no official size or hash is known"
            return f"{self.path} is the official {self.model} checkpoint ({how})"
        return f"{self.path} exists but is not the official {self.model} checkpoint ({'; '.join(self.problems)})"

    def advice(self, url: Optional[str] = None) -> str:
        """What the user can do about a file that is not the official one (``url``: where the
        official file comes from, for a download by other means)."""
        other = f"; or download {url} by other means and put it in its place" if url else ""
        command = f", or 'samlabel download {self.model}'" if self.model in CLI_MODELS else ""
        return (
            f"Delete it and download {self.model} again (Model ▸ Download model…{command}: a verified "
            f"download replaces it){other}; or, if it is a checkpoint of your own, "
            f"load it as your own file (Model ▸ Load checkpoint file…, or 'samlabel --checkpoint {self.path}')."
        )


def check_file(
    name: Union[str, SamConfig, OfficialFile],
    path: Union[str, Path],
    *,
    hashes: bool = True,
    md5: Optional[str] = None,
    sha256: Optional[str] = None,
    check_size: bool = True,
    known_sha256: Optional[str] = None,
) -> FileCheck:
    """Compare ``path`` with the official checkpoint of ``name``.

    The expected ``md5``/``sha256`` (prefixes accepted; ``""`` skips one) default to the
    config's, as does the size (``check_size=False`` skips it). With ``hashes=False`` only
    the size is compared (free); ``known_sha256`` is a digest the caller already has (then
    only the SHA-256 is compared, without reading the file). Raises ``OSError`` when the
    file cannot be read.
    """
    cfg = official_file(name)
    path = Path(path)
    md5 = md5 if md5 is not None else cfg.md5
    sha256 = sha256 if sha256 is not None else cfg.sha256
    size = cfg.size if check_size else None
    actual = path.stat().st_size
    problems: list[str] = []
    if size is not None and actual != size:
        problems.append(f"size {actual} bytes, expected {size}")
    hashed = False
    if known_sha256 is not None and sha256:
        hashed = True
        if not known_sha256.lower().startswith(sha256.lower()):
            problems.append("SHA-256 mismatch")
    elif hashes and (md5 or sha256):
        hashed = True
        got_md5, got_sha = file_hashes(path)
        if md5 and not got_md5.startswith(md5.lower()):
            problems.append("MD5 mismatch")
        if sha256 and not got_sha.startswith(sha256.lower()):
            problems.append("SHA-256 mismatch")
    return FileCheck(path, cfg.model, actual, size, tuple(problems), hashed)


def official_path(name: Union[str, SamConfig, OfficialFile], directory=None) -> Optional[Path]:
    """Where ``name``'s official checkpoint goes in ``directory`` (default: the checkpoint dir)."""
    cfg = official_file(name)
    if not cfg.filename:
        return None
    folder = Path(directory).expanduser() if directory is not None else paths.checkpoint_dir()
    return folder / cfg.filename


def check_official_file(name: Union[str, SamConfig, OfficialFile], directory=None, *,
                        hashes: bool = True) -> Optional[FileCheck]:
    """The check of the file at ``name``'s official location, or ``None`` when there is none."""
    path = official_path(name, directory)
    if path is None or not path.is_file():
        return None
    return check_file(name, path, hashes=hashes)


# SAM 2 file names: Meta's (sam2.1_hiera_tiny.pt), its config names (sam2.1_hiera_b+), Hugging
# Face ids (facebook/sam2.1-hiera-base-plus), after "-" and spaces became "_".
_SAM2_NAME = re.compile(r"sam2(?P<v21>[._]?1|p1)?_hiera_(?P<size>tiny|small|base_?plus|b\+|large|t|s|l)(?![a-z0-9])")
_SAM2_SIZES = {"t": "tiny", "s": "small", "b+": "base_plus", "baseplus": "base_plus", "l": "large"}


def _sam2_name_in(text: str) -> Optional[str]:
    match = _SAM2_NAME.search(text)
    if match is None:
        return None
    size = _SAM2_SIZES.get(match.group("size"), match.group("size"))
    return f"sam2.1_hiera_{size}" if match.group("v21") else f"sam2_hiera_{size}"


def model_name_for_file(path: Union[str, Path]) -> Optional[str]:
    """Which model a checkpoint file is for, judged from its name (an official file name, or
    words such as ``vit_b`` / ``mobile_sam`` / ``sam2.1_hiera_tiny`` / ``sam2_hiera_b+``), else
    from an official file's exact size; None when neither tells."""
    path = Path(path)
    for name in config_names():
        cfg = get_config(name)
        if cfg.checkpoint_filename and cfg.checkpoint_filename == path.name:
            return cfg.name
    text = re.sub(r"[-\s]", "_", path.name.lower())
    sam2 = _sam2_name_in(text)
    if sam2 is not None:
        return sam2
    for name, words in _NAME_HINTS:
        if any(word.replace("-", "_") in text for word in words):
            return name
    try:
        size = path.stat().st_size
    except OSError:
        return None
    for name in (*OFFICIAL_MODELS, *sam2_model_names()):
        if official_file(name).size == size:
            return name
    return None
