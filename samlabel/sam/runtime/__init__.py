"""Process-wide CPU settings: threads, the C allocator (``cpu``) and OpenMP (``openmp_env``)."""
