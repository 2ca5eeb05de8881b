"""The Processing provider (id ``earth4d``): the plugin's operations in the toolbox, batch mode and models."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ..core.plugin_files import ICON_PATH
from .analysis_algorithms import ANALYSIS_ALGORITHMS
from .raster_algorithms import RASTER_ALGORITHMS
from .sample_algorithm import SamplePoints


class Earth4DProvider(QgsProcessingProvider):
    """Rasterize embeddings, rasterize RGB, similarity to a place, sample points, and the analyses."""

    def id(self) -> str:
        return "earth4d"

    def name(self) -> str:
        return "Earth4D"

    def longName(self) -> str:  # noqa: N802
        return "Earth4D: predicted AlphaEarth embeddings"

    def icon(self) -> QIcon:
        return QIcon(str(ICON_PATH))

    def loadAlgorithms(self) -> None:  # noqa: N802
        for algorithm in RASTER_ALGORITHMS:
            self.addAlgorithm(algorithm())
        self.addAlgorithm(SamplePoints())
        for analysis in ANALYSIS_ALGORITHMS:
            self.addAlgorithm(analysis())
