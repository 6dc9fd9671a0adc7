"""Where the open image's annotations are saved, in words for the user (no Qt).

The file list dock shows it under the list, and opening the bundled sample says it in the
status bar: the sample is annotated in a copy in the user cache (``default_image`` in
``samlabel.gui.app``), a folder nobody would think of looking in.

    where = SaveLocation.of(project.sidecar_path(image), image)
    where.caption()   # "Sample image (a copy): your annotations are saved as coffee.json in:"
    where.sidecar     # /home/me/.cache/samlabel/sample/coffee.json (the dock shows its folder)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


def _is_sample_copy(image: Path) -> bool:
    from samlabel.paths import sample_copy_dir

    try:
        return image.parent.resolve() == sample_copy_dir().resolve()
    except OSError:
        return False


@dataclass(frozen=True)
class SaveLocation:
    """The sidecar of ``image``; ``sample``: the image is the copy of the bundled sample."""

    image: Path
    sidecar: Path
    sample: bool = False

    @classmethod
    def of(cls, sidecar: Path, image: Path) -> "SaveLocation":
        return cls(Path(image), Path(sidecar), _is_sample_copy(Path(image)))

    def caption(self) -> str:
        """The line above the folder in the file list dock (it names the file)."""
        if self.sample:
            return f"Sample image (a copy): your annotations are saved as {self.sidecar.name} in:"
        return f"Annotations of {self.image.name} are saved as {self.sidecar.name} in:"

    def status_message(self) -> str:
        """The status-bar message when the image opens."""
        if self.sample:
            return f"Sample image (a copy): your annotations are saved in {self.sidecar}"
        return f"Annotations of {self.image.name} are saved in {self.sidecar}"
