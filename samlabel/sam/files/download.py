"""Download official checkpoints: stream to ``<file>.part``, resume, verify, rename atomically.

    path = download_checkpoint("vit_b")                  # -> <checkpoint dir>/sam_vit_b_01ec64.pth
    path = find_checkpoint("vit_b")                      # the file if already there, else None

Verification: Meta's file names end in the first hex digits of the file's MD5
(``sam_vit_b_01ec64.pth``); the config holds the full MD5 and, where known, the SHA-256, and
both are checked, as is the official size where it is known. SAM 2 / 2.1 files
(``download_checkpoint("sam2.1_hiera_tiny")``) are checked by their SHA-256 and size. A model
whose official file has no known hash is checked by its size (where known) and by loading it
into its model strictly (:func:`check_loads`), and the result says that its hash was not
verified (``DownloadResult.hash_verified``). A file that fails is deleted (never promoted), so
a retry starts clean.
A file already at the destination that is not the official one is replaced by a verified
download; when the download fails, the error says what that file is (size, hashes) and
what to do, instead of telling the user to save a file where one already is (see
``samlabel.sam.files.official``). The default folder is ``samlabel.paths.checkpoint_dir()``
(``$SAMLABEL_CHECKPOINT_DIR``).
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Optional, Union

from samlabel import paths
from samlabel.sam.config import SamConfig
from samlabel.sam.errors import DownloadError, SamError
from samlabel.sam.files.official import FileCheck, OfficialFile, check_file, file_hashes, official_file

__all__ = ["DownloadError", "DownloadResult", "check_loads", "download_checkpoint", "find_checkpoint", "verify_file"]

Progress = Callable[..., None]  # progress(done_bytes, total_bytes_or_None, message="")
_CHUNK = 1 << 20
_NAME_HASH = re.compile(r"_([0-9a-f]{6})\.pth$")


def _directory(directory) -> Path:
    return Path(directory).expanduser() if directory is not None else paths.checkpoint_dir()


class DownloadResult(type(Path())):
    """The path of a downloaded (or already present) checkpoint, with how it was verified:
    ``hash_verified`` (its MD5/SHA-256 matched the official ones), else ``size_checked`` and
    ``load_checked`` (it loaded strictly into its model). A ``Path`` in every other respect."""

    hash_verified: bool = True
    size_checked: bool = False
    load_checked: bool = False

    @property
    def verification(self) -> str:
        """How the file was checked, for the user."""
        if self.hash_verified:
            return "verified by its hash"
        done = [w for w, ok in (("its size", self.size_checked), ("that it loads", self.load_checked)) if ok]
        checked = f"checked {' and '.join(done)}" if done else "not checked"
        return f"SHA-256 unverified, no official hash is known; {checked}"


def _result(path: Path, hashed: bool, sized: bool = False, loaded: bool = False) -> DownloadResult:
    result = DownloadResult(path)
    result.hash_verified, result.size_checked, result.load_checked = hashed, sized, loaded
    return result


def _filename(cfg: OfficialFile, url: Optional[str]) -> str:
    if cfg.filename:
        return cfg.filename
    if url:
        return url.rstrip("/").rsplit("/", 1)[-1]
    raise DownloadError(f"model {cfg.model!r} has no official checkpoint to download")


def find_checkpoint(name: Union[str, SamConfig, OfficialFile], directory=None) -> Optional[Path]:
    """The model's checkpoint file in ``directory`` (default: the checkpoint dir), or ``None``."""
    cfg = official_file(name)
    if not cfg.filename:
        return None
    path = _directory(directory) / cfg.filename
    return path if path.is_file() else None


def check_loads(name: Union[str, OfficialFile], path: Path) -> None:
    """Raise ``DownloadError`` unless ``path`` loads strictly into model ``name`` (every tensor
    present with its shape): the check of a download whose official hash is unknown."""
    model = official_file(name).model
    try:
        if official_file(name).family == "edgetam":
            from samlabel.sam.video.edgetam_video_predictor import build_edgetam_video_predictor  # torch: only here

            build_edgetam_video_predictor(path, device="cpu")
        else:
            from samlabel.sam.build import build_sam  # torch: only for this check

            build_sam(model, checkpoint=path, device="cpu")
    except SamError as exc:
        raise DownloadError(f"{path} is not a checkpoint of {model}: {exc}") from None


def verify_file(path: Path, md5: Optional[str] = None, sha256: Optional[str] = None, filename: str = "") -> None:
    """Raise ``DownloadError`` unless the file's MD5 starts with ``md5`` and its SHA-256 with ``sha256``.

    When ``md5`` is not given, the 6-hex-digit suffix of an official file name is used.
    """
    if md5 is None:
        match = _NAME_HASH.search(filename or path.name)
        md5 = match.group(1) if match else None
    if not md5 and not sha256:
        return
    got_md5, got_sha = file_hashes(path)
    if md5 and not got_md5.startswith(md5.lower()):
        raise DownloadError(f"{path}: MD5 {got_md5} does not match the expected {md5} - the file is corrupt")
    if sha256 and not got_sha.startswith(sha256.lower()):
        raise DownloadError(f"{path}: SHA-256 {got_sha} does not match the expected {sha256} - the file is corrupt")


def _manual_hint(url: str, target: Path, existing: Optional[FileCheck], offline: bool) -> str:
    """What to do when the download failed: sentences that end with a full stop. A file
    already at ``target`` that is not the official one is described, rather than telling
    the user to save a file where one already is."""
    network = "Check the network connection, or d" if offline else "D"
    if existing is None:
        return f"{network}ownload {url} by other means and save it as {target}."
    return f"{existing.describe()}. {existing.advice(url)}"


def _fetch(url: str, part: Path, progress: Optional[Progress], timeout: float, label: str) -> None:
    """Append the rest of ``url`` to ``part`` (HTTP Range from its current size)."""
    done = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "samlabel"})
    if done:
        request.add_header("Range", f"bytes={done}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and done:  # range not satisfiable: the .part is already complete
            return
        raise
    with response:
        status = getattr(response, "status", 200)
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if done and status == 206:
            mode, total = "ab", (done + length if length is not None else None)
        else:  # server ignored the range: start over
            mode, total, done = "wb", length, 0
        if progress:
            progress(done, total, f"resuming {label}" if mode == "ab" else f"downloading {label}")
        with open(part, mode) as f:
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                f.write(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total, "")
            f.flush()
            os.fsync(f.fileno())
    if total is not None and done < total:
        raise ConnectionError(f"connection closed after {done} of {total} bytes")


def download_checkpoint(
    name: Union[str, SamConfig, OfficialFile],
    directory=None,
    url: Optional[str] = None,
    progress: Optional[Progress] = None,
    timeout: float = 30,
    *,
    md5: Optional[str] = None,
    sha256: Optional[str] = None,
    retries: int = 3,
    check_loading: Optional[bool] = None,
) -> DownloadResult:
    """Download the checkpoint of ``name`` into ``directory`` and return its path.

    An existing file that verifies is returned at once. The download streams into
    ``<file>.part`` and resumes it (HTTP Range) after interruptions, up to ``retries`` times in
    this call and across calls. ``md5``/``sha256`` override the expected hashes (prefixes are
    accepted); by default those of the config are used, with its official size. Without any
    expected hash the file is loaded into its model to check it (``check_loading``: default
    True exactly then). Raises ``DownloadError`` with the URL and where to put a manually
    downloaded file. The returned path (a :class:`DownloadResult`) says how it was checked.
    """
    cfg = official_file(name)
    url = url or cfg.url
    if not url:
        raise DownloadError(f"model {cfg.model!r} has no checkpoint URL; pass url=")
    filename = _filename(cfg, url)
    official = md5 is None and sha256 is None  # the official hashes (and so the official size)
    md5 = md5 if md5 is not None else cfg.md5
    sha256 = sha256 if sha256 is not None else cfg.sha256
    hashed = bool(md5 or sha256)
    size = cfg.size if official else None
    if check_loading is None:
        check_loading = not hashed
    folder = _directory(directory)
    target = folder / filename
    part = folder / (filename + ".part")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(f"cannot create the checkpoint folder {folder}: {exc}") from exc

    existing: Optional[FileCheck] = None
    if target.is_file():
        # the official size holds only for the official hashes (md5=/sha256= replace them)
        try:
            existing = check_file(cfg, target, md5=md5 or "", sha256=sha256 or "", check_size=official)
        except OSError as exc:
            raise DownloadError(f"cannot read the existing checkpoint {target}: {exc}") from exc
        if existing.official and check_loading:
            try:
                check_loads(cfg, target)
            except DownloadError:
                existing = FileCheck(existing.path, existing.model, existing.size, existing.expected_size,
                                     ("it does not load into the model",), existing.hashed)
        if existing.official:
            if progress:
                have = target.stat().st_size
                progress(have, have, "already downloaded")
            return _result(target, hashed, size is not None, check_loading)
        # not the official file: download again; the verified download replaces it

    last_error: Optional[BaseException] = None
    for _attempt in range(max(1, retries)):
        try:
            _fetch(url, part, progress, timeout, filename)
            last_error = None
            break
        except urllib.error.HTTPError as exc:
            hint = _manual_hint(url, target, existing, offline=False)
            raise DownloadError(f"downloading {url} failed: HTTP {exc.code} {exc.reason}. {hint}") from exc
        except (urllib.error.URLError, OSError, ConnectionError, TimeoutError) as exc:
            last_error = exc
            if isinstance(exc, urllib.error.URLError) and not part.exists():
                break  # offline / unreachable host: retrying will not help
    if last_error is not None:
        reason = getattr(last_error, "reason", last_error)
        kept = f" The partial file {part} is kept; run the download again to resume." if part.exists() else ""
        raise DownloadError(
            f"could not download {url} ({reason}). {_manual_hint(url, target, existing, offline=True)}{kept}"
        ) from last_error

    try:
        verify_file(part, md5, sha256, filename)  # a matching hash implies the size
        got = part.stat().st_size
        if size is not None and got != size:
            raise DownloadError(f"{part}: size {got} bytes, expected {size} - the file is incomplete or not the official one")
        if check_loading:
            check_loads(cfg, part)
    except DownloadError as exc:
        part.unlink(missing_ok=True)
        raise DownloadError(f"downloaded file from {url} failed verification and was deleted: {exc}") from None
    os.replace(part, target)
    return _result(target, hashed, size is not None, check_loading)
