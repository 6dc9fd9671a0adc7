"""samlabel.formats: dataset readers and writers (Qt-free).

One module per format, each with a ``Writer(out_dir, labels, simplify)`` (a
``common.BaseWriter``: ``add(image, annotation) -> notes``, ``finish()``) and
``read(src, labels) -> Reading``:
``coco``, ``labelme``, ``yolo``, ``voc``, ``masks``, ``cvat`` (CVAT for images 1.1 XML),
``sa1b`` (Segment Anything's per-image JSON), ``mots`` (MOTS PNGs of a video sequence; export
only: its ``read`` refuses). ``batch`` runs them over a project folder
(``export_project``, ``import_dataset``) with atomic output and per-image problem reports;
``subsets`` names the subsets (train, val...) of the formats that have them.
"""

FORMAT_NAMES = ("coco", "labelme", "yolo", "voc", "masks", "cvat", "sa1b", "mots")
