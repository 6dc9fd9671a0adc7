"""The fast paths: the same maths as ``samlabel.sam.modeling``, arranged to do less work.

Each module reads the plain modules' weights and never changes them, so one model object
runs on either path; ``samlabel.sam.compute_path`` chooses which.
"""
