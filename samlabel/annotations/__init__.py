"""samlabel.annotations: the Qt-free document layer.

- :class:`Label`, :class:`LabelSet` - class names with colours (``labels.py``).
- :class:`Shape`, :class:`PolygonWithHoles` - immutable shapes (``shapes.py``, ``geometry.py``).
- :class:`ImageAnnotation` - one image's shapes and flags (``image_annotation.py``).
- :class:`Document` - the annotation being edited plus undo/redo (``document.py``).
- :class:`Project` - a folder of images with labelme-compatible sidecar JSON
  (``project.py``, ``sidecar.py``), saved atomically (``atomic.py``);
  ``Project.rename_label`` renames a label in every sidecar.
- ``mask_to_polygons`` / ``polygons_to_mask`` / RLE helpers (``geometry.py``).
- Errors: :class:`AnnotationError` and subclasses (``errors.py``).
- How large an image samlabel opens (``image_limits.py``): one policy, applied on import here
  so that the app, export and import agree whatever was imported first.

Coordinates are image pixels with pixel edges on integers: pixel (row i, col j) covers
``[j, j+1] x [i, i+1]`` (COCO's and Qt's convention).
"""

from samlabel.annotations.atomic import atomic_write_bytes, atomic_write_text
from samlabel.annotations.document import Document, DocumentChange
from samlabel.annotations.errors import (
    AnnotationError,
    AnnotationFileError,
    AnnotationWarning,
    GeometryError,
    LabelError,
    SaveError,
)
from samlabel.annotations.geometry import (
    PolygonWithHoles,
    mask_iou,
    mask_to_polygons,
    mask_to_rle,
    polygons_to_mask,
    repair_polygons,
    rle_area,
    rle_bbox,
    rle_to_mask,
)
from samlabel.annotations.image_annotation import ImageAnnotation
from samlabel.annotations.image_limits import MAX_PIXELS, ImageTooLargeError, allow_large_images, check_pixels
from samlabel.annotations.labels import Label, LabelSet, default_color
from samlabel.annotations.project import IMAGE_EXTENSIONS, Project, RenameReport, image_size, list_images, sidecar_path_for
from samlabel.annotations.shapes import SHAPE_KINDS, Shape, VertexRef, new_uid
from samlabel.annotations.sidecar import annotation_from_dict, annotation_to_dict, read_sidecar, write_sidecar

__all__ = [
    "MAX_PIXELS",
    "ImageTooLargeError",
    "allow_large_images",
    "check_pixels",
    "AnnotationError",
    "AnnotationFileError",
    "AnnotationWarning",
    "Document",
    "IMAGE_EXTENSIONS",
    "Project",
    "RenameReport",
    "annotation_from_dict",
    "annotation_to_dict",
    "image_size",
    "list_images",
    "read_sidecar",
    "sidecar_path_for",
    "write_sidecar",
    "DocumentChange",
    "GeometryError",
    "ImageAnnotation",
    "Label",
    "LabelError",
    "LabelSet",
    "PolygonWithHoles",
    "SHAPE_KINDS",
    "SaveError",
    "Shape",
    "VertexRef",
    "atomic_write_bytes",
    "atomic_write_text",
    "default_color",
    "mask_iou",
    "mask_to_polygons",
    "mask_to_rle",
    "new_uid",
    "polygons_to_mask",
    "repair_polygons",
    "rle_area",
    "rle_bbox",
    "rle_to_mask",
]

allow_large_images()
