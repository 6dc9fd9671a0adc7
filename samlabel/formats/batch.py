"""Batch export of a project folder to a dataset, and import of a dataset into a project.

Export policy:

- The dataset is written into a temporary folder beside ``OUT_DIR``
  (``.<name>.partial-<pid>@<host>@<random>``) and renamed into place at the end, so a
  crash or an error leaves no half-written dataset. The temporary folder of an export
  that was killed is removed by the next export into the same parent folder (noted):
  one whose process on this machine is gone, or, when that cannot be known, one that
  nothing was written to for an hour (:data:`STALE_AFTER_S`).
- ``OUT_DIR`` must not exist or be an empty folder; a non-empty ``OUT_DIR`` is refused
  (BatchError) rather than overwritten, so nothing of the user's is ever deleted. An
  ``OUT_DIR`` that is a symbolic link is followed: the dataset goes where it points (noted)
  and the link stays. A link loop, a named pipe or another non-folder is refused, saying
  which it is.
- One bad image (unreadable sidecar, label not in the label file, mask of the wrong
  size, an image over Pillow's decompression-bomb limit, a sidecar with a number too
  large for a float or nested too deeply...) does not stop the export: it is left out, and ``report.problems`` names the
  file and the problem; the command line exits with status 2. Everything else is
  exported. Problems that concern the whole export (no such project, bad label file,
  ``OUT_DIR`` not empty, disk full) raise :class:`BatchError` and write nothing.
- Labels: ``labels_file`` if given, else the project's ``labels.txt`` / ``labels.json``,
  else the labels used in the exported annotations (in order of first use). With a label
  file, a shape whose label is missing from it makes its image a problem.
- One pass over the images; ``progress(done, total, image_name)`` after each.
- Subsets (formats whose ``Writer.SUBSETS``: COCO, VOC, CVAT): ``subset`` names the subset
  of every image (default: the format's, e.g. COCO's ``default``), ``split_file`` assigns
  images to subsets by file name (:func:`samlabel.formats.subsets.read_split`; images it
  does not list go to ``subset``). Either one for a format without subsets, a bad subset
  name or a split file naming an image the project does not have raise BatchError.

Import policy (progress runs twice over the images: reading, then saving): ``SRC`` is
read completely first (a broken dataset raises BatchError and
writes nothing); then each good image is copied into ``PROJECT_DIR`` (unless the same file
is already there) and its sidecar written atomically. Images that already have a sidecar
in ``PROJECT_DIR`` are not overwritten (reported as problems), nor are different files of
the same name. The dataset's label names are saved to ``PROJECT_DIR/labels.txt`` if the
project has no label file yet.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
import socket
import stat
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Callable

from PIL import Image

from samlabel.annotations import AnnotationError, AnnotationWarning, LabelSet, Project
from samlabel.annotations.atomic import UMASK
from samlabel.annotations.project import check_image_decodes, sidecar_path_for
from samlabel.annotations.sidecar import write_sidecar
from samlabel.formats import FORMAT_NAMES
from samlabel.formats.common import INPUT_ERRORS, input_error, report_progress
from samlabel.formats.subsets import check_subset_name, read_split
from samlabel.path_kinds import kind_of, os_error_problem, stat_problem

Progress = Callable[..., None]
STALE_AFTER_S = 3600.0
"""A partial export folder nothing was written to for this long is stale (when its owner
process cannot be checked)."""
_PARTIAL = re.compile(r"^\..+\.partial-(?:(\d+)@([A-Za-z0-9.-]*)@)?.*$")  # see partial_prefix


class BatchError(AnnotationError):
    """The whole export / import cannot be done; nothing was written."""


@dataclass
class BatchReport:
    """``exported``: images written; ``problems``: one message per image left out (file and
    problem); ``notes``: things left out or repaired inside exported images; ``out_dir``."""

    exported: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    out_dir: Path | None = None


def format_module(fmt: str) -> ModuleType:
    if fmt not in FORMAT_NAMES:
        raise BatchError(f"unknown format {fmt!r} (expected one of {', '.join(FORMAT_NAMES)})")
    import importlib

    return importlib.import_module(f"samlabel.formats.{fmt}")


def _load_labels(labels_file: str | os.PathLike | None) -> LabelSet | None:
    if labels_file is None:
        return None
    try:
        return LabelSet.load(labels_file)
    except AnnotationError as exc:
        raise BatchError(str(exc)) from exc


def _output_folder(out_dir: str | os.PathLike) -> tuple[Path, list[str]]:
    """``(folder, notes)``: where an export goes, checked (see the module doc). A symbolic
    link is followed (noted), so the dataset lands in the folder it points to, and the link
    stays; a link loop, a named pipe or any other non-folder is refused, naming what it is."""
    out = Path(out_dir).absolute()
    notes = []
    if out.is_symlink():
        _, problem = stat_problem(out)
        if problem is not None and not problem.startswith("a broken symbolic link"):
            raise BatchError(f"{out}: {problem}")  # a loop: a broken link points to where the dataset goes
        target = Path(os.path.realpath(out))
        notes.append(f"{out}: a symbolic link to {target}; the dataset is written there")
        out = target
    st, problem = stat_problem(out)
    if problem is not None:
        raise BatchError(f"{out}: {problem}")
    if st is not None:
        if not stat.S_ISDIR(st.st_mode):
            raise BatchError(f"{out}: already exists and is not a folder ({kind_of(st.st_mode)}); "
                             "choose a new output folder")
        try:
            occupied = any(out.iterdir())
        except OSError as exc:
            raise BatchError(f"{out}: {os_error_problem(out, exc)}") from exc
        if occupied:
            raise BatchError(f"{out}: already exists and is not an empty folder; choose a new output folder")
    if not out.parent.is_dir():
        raise BatchError(f"{out.parent}: the parent folder of the output does not exist")
    return out, notes


def _project_folder(project_dir: str | os.PathLike) -> Path:
    """The folder an import writes into, checked before anything is read: a missing one is
    created later; a file, a named pipe, a link loop or a broken link is refused by name."""
    project = Path(project_dir)
    st, problem = stat_problem(project)
    if problem is not None:
        raise BatchError(f"{project}: {problem}")
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise BatchError(f"{project}: not a folder ({kind_of(st.st_mode)}); an import writes into a project folder")
    return project


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.-]", "", socket.gethostname())[:64]


def partial_prefix(out: Path, pid: int | None = None) -> str:
    """The name prefix of ``out``'s temporary folder: it names the process and machine
    writing it, so a later export can tell a killed export's folder from a running one."""
    name = out.name.encode("utf-8")[:100].decode("utf-8", "ignore")  # room for the rest in NAME_MAX
    return f".{name}.partial-{os.getpid() if pid is None else pid}@{_host()}@"


def _process_alive(pid: int) -> bool | None:
    """Whether process ``pid`` on this machine exists (None: cannot tell, e.g. Windows,
    where ``os.kill(pid, 0)`` would not be a harmless probe)."""
    if os.name != "posix":
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    except (OSError, OverflowError):  # a pid no process can have
        return None
    return True


def _last_write(folder: Path) -> float:
    """When anything was last written into ``folder`` or one of its direct subfolders
    (every format writes each image's files there)."""
    latest = folder.lstat().st_mtime
    with os.scandir(folder) as entries:
        for entry in entries:
            latest = max(latest, entry.stat(follow_symlinks=False).st_mtime)
    return latest


def remove_stale_partials(parent: Path, now: float | None = None) -> list[str]:
    """Remove the temporary folders that killed exports left in ``parent``; returns a note
    per folder removed. A folder is stale when the process that named itself in it is
    gone from this machine, or, for one whose process cannot be checked (another machine,
    an older samlabel, Windows), when nothing was written to it for STALE_AFTER_S."""
    now = time.time() if now is None else now
    notes = []
    try:
        with os.scandir(parent) as scan:
            entries = list(scan)
    except OSError:
        return notes
    for entry in entries:
        match = _PARTIAL.match(entry.name)
        if match is None or not entry.is_dir(follow_symlinks=False):
            continue
        path = Path(entry.path)
        pid, host = match.groups()
        alive = _process_alive(int(pid)) if pid is not None and host == _host() else None
        try:
            stale = alive is False or (alive is None and now - _last_write(path) > STALE_AFTER_S)
        except OSError:
            continue
        if stale:
            shutil.rmtree(path, ignore_errors=True)
            if not path.exists():
                notes.append(f"{path}: removed the partial output of an export that was interrupted")
    return notes


def _load_image(project: Project, image: Path):
    """``project.load(image)`` with Pillow's, numpy's and json's refusals of absurd inputs
    as a FormatError naming the image (too large) or its sidecar (a number too large,
    nesting too deep)."""
    try:
        return project.load(image)
    except INPUT_ERRORS as exc:
        where = image if isinstance(exc, Image.DecompressionBombError) else project.sidecar_path(image)
        raise input_error(exc, where) from exc


def _orphan_sidecars(project: Project) -> list[str]:
    """Annotation files in the project folder whose image is missing."""
    stems = {image.stem for image in project.images}
    own = {project.sidecar_path(image).name for image in project.images}
    problems = []
    for path in sorted(project.root.glob("*.json")):
        if path.stem in stems or path.name in own or path.name == "labels.json":
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            continue  # not an annotation file of ours
        if isinstance(data, dict) and "shapes" in data:
            image = data.get("imagePath") or f"{path.stem}.*"
            problems.append(f"{path}: the image it annotates ({image}) does not exist")
    return problems


def _subsets(module: ModuleType, fmt: str, project: Project, subset: str | None, split_file) -> dict[str, str]:
    """``{image file name: subset}`` for every image of ``project`` (see the module doc)."""
    if subset is None and split_file is None:
        return {}
    if not module.Writer.SUBSETS:
        raise BatchError(f"the {fmt} format has no subsets; --subset and --split are for coco, voc, cvat and mots")
    try:
        default = check_subset_name(subset, "--subset") if subset is not None else module.Writer.DEFAULT_SUBSET
        split = read_split(split_file) if split_file is not None else {}
    except AnnotationError as exc:
        raise BatchError(str(exc)) from exc
    names = {image.name for image in project.images}
    unknown = [name for name in split if name not in names]
    if unknown:
        raise BatchError(f"{split_file}: {', '.join(map(repr, unknown[:5]))} not in the project {project.root}")
    return {name: split.get(name, default) for name in names}


def export_project(
    fmt: str,
    project_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    labels_file: str | os.PathLike | None = None,
    simplify: float | None = None,
    progress: Progress | None = None,
    subset: str | None = None,
    split_file: str | os.PathLike | None = None,
) -> BatchReport:
    """Export every image of ``project_dir`` to ``out_dir`` in format ``fmt`` (see module doc)."""
    module = format_module(fmt)
    out = Path(out_dir).absolute()
    try:
        project = Project(project_dir)
    except AnnotationError as exc:
        raise BatchError(str(exc)) from exc
    if not Path(project_dir).is_dir():
        raise BatchError(f"{project_dir}: not a folder")
    if simplify is not None and simplify < 0:
        raise BatchError(f"--simplify must be >= 0 pixels, got {simplify}")
    out, out_notes = _output_folder(out)
    subset_of = _subsets(module, fmt, project, subset, split_file)
    labels = _load_labels(labels_file)
    if labels is None and any((project.root / n).is_file() for n in ("labels.txt", "labels.json")):
        try:
            labels = project.labels
        except AnnotationError as exc:
            raise BatchError(str(exc)) from exc

    report = BatchReport(out_dir=out, notes=out_notes)
    report.notes.extend(remove_stale_partials(out.parent))
    total = len(project.images)
    strict = labels is not None
    labels = labels if labels is not None else LabelSet()
    try:
        tmp = Path(tempfile.mkdtemp(prefix=partial_prefix(out), dir=out.parent))
    except OSError as exc:
        raise BatchError(f"{out.parent}: cannot write the export there ({exc.strerror or exc})") from exc
    try:
        writer = module.Writer(tmp, labels, simplify=simplify)
        for i, image in enumerate(project.images):
            report_progress(progress, i, total, image.name)
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", AnnotationWarning)
                    annotation = _load_image(project, image)
                check_image_decodes(image)  # a truncated image must not go into the dataset
                notes = [str(w.message) for w in caught if issubclass(w.category, AnnotationWarning)]
                writer.subset = subset_of.get(image.name, writer.DEFAULT_SUBSET)
                if not strict:  # labels in order of first use; kept only if the image exports
                    writer.labels = labels.copy()
                    for name in annotation.labels_used():
                        writer.labels.add(name)
                try:
                    notes += writer.add(image, annotation)
                except INPUT_ERRORS as exc:
                    raise input_error(exc, image) from exc
            except AnnotationError as exc:
                writer.labels = labels
                report.problems.append(str(exc))
                continue
            labels = writer.labels
            report.notes.extend(notes)
            report.exported += 1
        report.problems.extend(_orphan_sidecars(project))
        writer.finish()
        os.chmod(tmp, 0o777 & ~UMASK)  # mkdtemp made it private (0700); the dataset is not
        if out.exists():
            out.rmdir()  # checked empty above
        os.replace(tmp, out)
    except AnnotationError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BatchError(str(exc)) from exc
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BatchError(f"{out}: export failed, nothing was written ({exc.strerror or exc})") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report_progress(progress, total, total, "done")
    return report


def import_dataset(
    fmt: str,
    src: str | os.PathLike,
    project_dir: str | os.PathLike,
    labels_file: str | os.PathLike | None = None,
    progress: Progress | None = None,
) -> BatchReport:
    """Import the dataset ``src`` (for COCO the JSON file) into ``project_dir``."""
    module = format_module(fmt)
    src_path = Path(src)
    if not src_path.exists():
        raise BatchError(f"{src_path}: no such file or folder")
    labels = _load_labels(labels_file)
    project = _project_folder(project_dir)

    def reader_progress(done, total, message=""):
        report_progress(progress, done, total, f"reading {message}")

    try:
        reading = module.read(src_path, labels, progress=reader_progress)
    except AnnotationError as exc:
        raise BatchError(str(exc)) from exc
    except INPUT_ERRORS as exc:  # a whole-dataset file no reader named more precisely
        raise BatchError(str(input_error(exc, src_path))) from exc
    try:
        project.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BatchError(f"{project}: cannot create the project folder ({exc.strerror or exc})") from exc
    report = BatchReport(problems=list(reading.problems), notes=list(reading.notes), out_dir=project)
    total = len(reading.items)
    for i, item in enumerate(reading.items):
        report_progress(progress, i, total, f"saving {item.image.name}")
        target = project / item.image.name
        sidecar = sidecar_path_for(target)
        if sidecar.exists():
            report.problems.append(f"{sidecar}: already exists; not overwritten (import of {item.image} skipped)")
            continue
        try:
            if target.exists():
                if not filecmp.cmp(target, item.image, shallow=False):
                    report.problems.append(f"{target}: a different image of that name is already in the project; {item.image} skipped")
                    continue
            else:
                shutil.copy2(item.image, target)
            write_sidecar(sidecar, item.annotation.replace(image_path=target.name))
        except AnnotationError as exc:
            report.problems.append(str(exc))
            continue
        except OSError as exc:
            report.problems.append(f"{target}: cannot copy the image ({exc.strerror or exc})")
            continue
        report.exported += 1
    if not any((project / n).is_file() for n in ("labels.txt", "labels.json")):
        names = labels if labels is not None else reading.labels
        if len(names):
            try:
                names.save(project / "labels.txt")
            except AnnotationError as exc:
                report.problems.append(str(exc))
    report_progress(progress, total, total, "done")
    return report


__all__ = [
    "BatchError",
    "BatchReport",
    "FORMAT_NAMES",
    "STALE_AFTER_S",
    "export_project",
    "format_module",
    "import_dataset",
    "partial_prefix",
    "remove_stale_partials",
]
