"""What users do with embeddings: classify, regress, cluster, detect change, find similar places, zonal means.

Every operation reads an ``EmbeddingSource``: a model's prediction for an area and date (``model_source``),
a 64-band GeoTIFF (``open_raster``: this project's outputs or official AlphaEarth int8 tiles) or arrays in
memory (``array_source``; an ``xarray.DataArray`` from ``predict_grid`` works as is). Each has an in-memory
function returning xarray (or a GeoDataFrame for zonal means) and a ``*_to_files`` function that writes COGs
window by window, with the same workers, dask scheduler and progress options as ``rasterize``.
"""

from __future__ import annotations

from .change import change, change_to_files
from .classify import classify, classify_to_files, fit_classifier
from .cluster import Clustering, cluster, cluster_to_files, fit_clusters
from .regress import fit_regressor, regress, regress_to_file
from .similarity import reference_vector, similarity, similarity_to_files
from .source import EmbeddingSource, array_source, model_source, open_raster, source_as_array
from .supervised import Fitted, load_fitted
from .zonal import write_zonal, zonal_grid, zonal_polygons

__all__ = [
    "Clustering",
    "EmbeddingSource",
    "Fitted",
    "array_source",
    "change",
    "change_to_files",
    "classify",
    "classify_to_files",
    "cluster",
    "cluster_to_files",
    "fit_classifier",
    "fit_clusters",
    "fit_regressor",
    "load_fitted",
    "model_source",
    "open_raster",
    "reference_vector",
    "regress",
    "regress_to_file",
    "similarity",
    "similarity_to_files",
    "source_as_array",
    "write_zonal",
    "zonal_grid",
    "zonal_polygons",
]
