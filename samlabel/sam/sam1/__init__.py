"""SAM 1 and MobileSAM's API-level pieces over the plain modules of ``samlabel.sam.modeling.sam1``:
its image frame (``resizer``: longest-side resize and bottom-right padding, prompt scaling, mask
resize) and per-image decoding the reference way (``plain_decoder``, what the fast path is checked against)."""
