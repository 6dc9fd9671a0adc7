"""samlabel: label images with masks and polygons, with Segment Anything drawing."""

__version__ = "0.1.0"
