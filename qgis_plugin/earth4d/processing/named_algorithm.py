"""The part every Earth4D Processing algorithm shares: names, group and help from class attributes."""

from __future__ import annotations

from qgis.core import QgsProcessingAlgorithm


class NamedAlgorithm(QgsProcessingAlgorithm):
    """A Processing algorithm described by its class: ``NAME``, ``DISPLAY``, ``GROUP``, ``GROUP_ID`` and
    ``HELP`` (followed by ``HELP_NOTE``, a note shared by a family of algorithms)."""

    NAME = ""
    DISPLAY = ""
    GROUP = ""
    GROUP_ID = ""
    HELP = ""
    HELP_NOTE = ""

    def createInstance(self) -> NamedAlgorithm:  # noqa: N802
        return type(self)()

    def name(self) -> str:
        return self.NAME

    def displayName(self) -> str:  # noqa: N802
        return self.DISPLAY

    def group(self) -> str:
        return self.GROUP

    def groupId(self) -> str:  # noqa: N802
        return self.GROUP_ID

    def shortHelpString(self) -> str:  # noqa: N802
        return self.HELP + self.HELP_NOTE
