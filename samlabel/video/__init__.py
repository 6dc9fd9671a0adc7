"""Video: label one frame, let SAM 2.1 carry every object through the rest. Qt-free.

It sits at the auto-labelling level (over ``samlabel.formats``, ``samlabel.annotations``
and ``samlabel.sam``; the GUI may use it, never the other way round). Modules:

- ``objects``: a frame's objects (shapes grouped by label and group id), the propagation
  marks, and the rule saying which frames a person owns (reviewed or edited);
- ``propagate``: the engine :func:`propagate` (resumable; progress and cancel) and its
  :class:`PropagationReport`;
- ``report``: the per-sequence report ``.samlabel-propagation.json``;
- ``batch``: every sequence under a folder (:class:`BatchJob`, :func:`find_sequences`), the
  local engine :func:`run_sequences_local` and the :class:`BatchReport`;
- ``ray_batch``: the same on Ray, one sequence per actor call (:func:`run_sequences_ray`);
- ``expand``: :func:`expand_video`, a video file into a folder of JPEG frames;
- ``errors``: :class:`VideoError`.
"""

from samlabel.lazy import lazy_exports

_EXPORTS = {
    "propagate": "samlabel.video.propagate",
    "PropagationReport": "samlabel.video.propagate",
    "load_predictor": "samlabel.video.propagate",
    "frame_objects": "samlabel.video.objects",
    "person_owned": "samlabel.video.objects",
    "expand_video": "samlabel.video.expand",
    "VIDEO_EXTENSIONS": "samlabel.video.expand",
    "VideoError": "samlabel.video.errors",
    "VideoCancelled": "samlabel.video.errors",
    "BatchJob": "samlabel.video.batch",
    "BatchReport": "samlabel.video.batch",
    "find_sequences": "samlabel.video.batch",
    "run_sequences_local": "samlabel.video.batch",
    "NoSequencesError": "samlabel.video.batch",
    "RayBatchOptions": "samlabel.video.ray_batch",
    "run_sequences_ray": "samlabel.video.ray_batch",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, globals(), _EXPORTS)
