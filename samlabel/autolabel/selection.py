"""Which images of a project a job takes: all, unlabelled only, and/or a file-name glob."""

from __future__ import annotations

import fnmatch
from pathlib import Path

from samlabel.annotations.errors import AnnotationError
from samlabel.annotations.project import Project
from samlabel.autolabel.errors import AutolabelError
from samlabel.autolabel.spec import AutolabelSpec


def open_project(spec: AutolabelSpec) -> Project:
    """The spec's project folder as a :class:`Project` (AutolabelError: not a folder)."""
    root = spec.root
    if not root.is_dir():
        raise AutolabelError(f"{root}: not a project folder (no such folder)")
    try:
        return Project(root)
    except AnnotationError as exc:
        raise AutolabelError(str(exc)) from exc


def _unlabelled(project: Project, image: Path) -> bool:
    """No sidecar, or a sidecar with no shape but rectangles and no stored proposals (read
    as raw JSON, so a broken sidecar is left to the job to name)."""
    import json

    sidecar = project.sidecar_path(image)
    if not sidecar.is_file():
        return True
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return True  # the job reads it again and names the problem
    if not isinstance(data, dict):
        return True
    from samlabel.autolabel.provenance import PROPOSALS_KEY

    shapes = data.get("shapes") if isinstance(data.get("shapes"), list) else []
    kinds = {s.get("shape_type") or "polygon" for s in shapes if isinstance(s, dict)}
    return not (kinds - {"rectangle"}) and PROPOSALS_KEY not in data


def select_images(project: Project, spec: AutolabelSpec) -> list[Path]:
    """The images the job takes, in the project's (natural) order."""
    images = list(project.images)
    if spec.glob:
        images = [p for p in images if fnmatch.fnmatch(p.name, spec.glob)]
    if spec.select == "unlabelled":
        images = [p for p in images if _unlabelled(project, p)]
    return images
