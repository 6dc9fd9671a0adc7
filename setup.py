"""Build hook: ship the top-level ``resources/`` folder inside the wheel.

All metadata lives in pyproject.toml. The only thing declared here is a build step
that copies ``resources/`` (icons, sample image, default labels) into the built
package as ``samlabel/resources``, which is where ``samlabel.paths.resources_dir()``
looks in an installed wheel. In a source checkout (and an editable install) the
folder stays where it is and ``resources_dir()`` finds it beside the package.
The sdist carries ``resources/`` through MANIFEST.in, so a wheel built from the
sdist (what ``python -m build`` does) gets it too.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RESOURCES = Path(__file__).resolve().parent / "resources"


class build_py_with_resources(build_py):
    """``build_py`` that also copies ``resources/`` to ``<build_lib>/samlabel/resources``."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # the source tree is used in place
            return
        if not RESOURCES.is_dir():
            raise FileNotFoundError(f"samlabel build: the resources folder {RESOURCES} is missing")
        target = Path(self.build_lib) / "samlabel" / "resources"
        self.copy_tree(str(RESOURCES), str(target))


setup(cmdclass={"build_py": build_py_with_resources})
