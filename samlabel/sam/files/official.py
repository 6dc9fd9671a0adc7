"""Is a file the official checkpoint of a model, and which model does a file belong to?

    check = check_official_file("vit_t")           # None: nothing at the official location
    if check is not None and not check.official:
        print(check.describe(), check.advice())    # "... exists but is not the official vit_t checkpoint
                                                   #  (size 123 bytes, expected 40728226; SHA-256 mismatch)"
    model_name_for_file("sam_vit_b_01ec64.pth")    # "vit_b" (file name, else exact official size)

A size comparison costs nothing and is all the app does before it loads a file found at the
official location (``hashes=False``); the model loader then compares the SHA-256 it computes
anyway (``known_sha256=``). Downloads compare every hash the config records. No Qt, no torch.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from samlabel import paths
from samlabel.sam.config import SamConfig, config_names, get_config

__all__ = ["FileCheck", "check_file", "check_official_file", "file_hashes", "model_name_for_file", "official_path"]

_CHUNK = 1 << 20
OFFICIAL_MODELS = ("vit_t", "vit_b", "vit_l", "vit_h")
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
            how = "verified" if self.hashed else "size checked"
            return f"{self.path} is the official {self.model} checkpoint ({how})"
        return f"{self.path} exists but is not the official {self.model} checkpoint ({'; '.join(self.problems)})"

    def advice(self, url: Optional[str] = None) -> str:
        """What the user can do about a file that is not the official one (``url``: where the
        official file comes from, for a download by other means)."""
        other = f"; or download {url} by other means and put it in its place" if url else ""
        return (
            f"Delete it and download {self.model} again (Model ▸ Download model…, or 'samlabel download "
            f"{self.model}': a verified download replaces it){other}; or, if it is a checkpoint of your own, "
            f"load it as your own file (Model ▸ Load checkpoint file…, or 'samlabel --checkpoint {self.path}')."
        )


def check_file(
    name: Union[str, SamConfig],
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
    cfg = get_config(name)
    path = Path(path)
    md5 = md5 if md5 is not None else cfg.checkpoint_md5
    sha256 = sha256 if sha256 is not None else cfg.checkpoint_sha256
    size = cfg.checkpoint_size if check_size else None
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
    return FileCheck(path, cfg.name, actual, size, tuple(problems), hashed)


def official_path(name: Union[str, SamConfig], directory=None) -> Optional[Path]:
    """Where ``name``'s official checkpoint goes in ``directory`` (default: the checkpoint dir)."""
    cfg = get_config(name)
    if not cfg.checkpoint_filename:
        return None
    folder = Path(directory).expanduser() if directory is not None else paths.checkpoint_dir()
    return folder / cfg.checkpoint_filename


def check_official_file(name: Union[str, SamConfig], directory=None, *, hashes: bool = True) -> Optional[FileCheck]:
    """The check of the file at ``name``'s official location, or ``None`` when there is none."""
    path = official_path(name, directory)
    if path is None or not path.is_file():
        return None
    return check_file(name, path, hashes=hashes)


def model_name_for_file(path: Union[str, Path]) -> Optional[str]:
    """Which model a checkpoint file is for, judged from its name (an official file name, or
    words such as ``vit_b`` / ``mobile_sam``), else from an official file's exact size; None
    when neither tells."""
    path = Path(path)
    for name in config_names():
        cfg = get_config(name)
        if cfg.checkpoint_filename and cfg.checkpoint_filename == path.name:
            return cfg.name
    text = re.sub(r"[-\s]", "_", path.name.lower())
    for name, words in _NAME_HINTS:
        if any(word.replace("-", "_") in text for word in words):
            return name
    try:
        size = path.stat().st_size
    except OSError:
        return None
    for name in OFFICIAL_MODELS:
        if get_config(name).checkpoint_size == size:
            return name
    return None
