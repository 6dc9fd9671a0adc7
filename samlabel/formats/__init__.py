"""samlabel.formats: dataset readers and writers (Qt-free).

One module per format, each with a ``Writer(out_dir, labels, simplify)`` (a
``common.BaseWriter``: ``add(image, annotation) -> notes``, ``finish()``) and
``read(src, labels) -> Reading``:
``coco``, ``labelme``, ``yolo``, ``voc``, ``masks``. ``batch`` runs them over a project
folder (``export_project``, ``import_dataset``) with atomic output and per-image problem
reports.
"""

FORMAT_NAMES = ("coco", "labelme", "yolo", "voc", "masks")
