"""The ``earth4d-gis`` command line: a thin click layer over the ``earth4d_gis`` core."""
