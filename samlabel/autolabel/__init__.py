"""Auto-label a project: boxes -> SAM masks, or segment everything -> stored proposals.

Qt-free; sits between ``samlabel.gui`` (the "Auto-label folder…" task) and
``samlabel.formats``/``samlabel.annotations``. Modules:

- ``spec``: :class:`AutolabelSpec` (frozen job description), :class:`ModelSpec`,
  :class:`EverythingParams`;
- ``selection``: which images (all, unlabelled, a glob);
- ``model``: build SAM once per process / Ray actor (:class:`Runner`);
- ``work``: the per-image work ``compute_image`` (model) and ``apply_result`` (merge);
- ``provenance``: provenance marks, rectangle keys, pending rectangles, stored proposals;
- ``job``: dry-run plan, atomic commit, the local engine ``run_local``, ``run``;
- ``ray_engine``: the same job on Ray Data (optional extra ``samlabel[cluster]``);
- ``report``: :class:`AutolabelReport` and the progress callback type.
"""

from samlabel.lazy import lazy_exports

_EXPORTS = {
    "AutolabelSpec": "samlabel.autolabel.spec",
    "ModelSpec": "samlabel.autolabel.spec",
    "EverythingParams": "samlabel.autolabel.spec",
    "AutolabelError": "samlabel.autolabel.errors",
    "ModelUnavailableError": "samlabel.autolabel.errors",
    "AutolabelReport": "samlabel.autolabel.report",
    "run": "samlabel.autolabel.job",
    "run_local": "samlabel.autolabel.job",
    "plan": "samlabel.autolabel.job",
    "RayOptions": "samlabel.autolabel.ray_engine",
    "run_ray": "samlabel.autolabel.ray_engine",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, globals(), _EXPORTS)
