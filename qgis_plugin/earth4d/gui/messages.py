"""Errors for the user: shown in QGIS's message bar in full and logged exactly once (tag "Earth4D").

QGIS logs every ``pushMessage`` to the "Messages" log by itself; a widget item is not logged, so the
plugin pushes a wrapped label and writes the one log line itself.
"""

from __future__ import annotations

import html

from qgis.core import Qgis, QgsMessageLog
from qgis.gui import QgsMessageBar
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QLabel

LOG_TAG = "Earth4D"


def bar_label(message: str) -> QLabel:
    """The message as a word-wrapped, selectable label headed "Earth4D"."""
    label = QLabel(f"<b>Earth4D</b>: {html.escape(message)}")
    label.setObjectName("earth4dMessage")
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    label.setProperty("earth4d_text", message)
    return label


def report_error(bar: QgsMessageBar | None, message: str) -> None:
    """Log ``message`` once and, with a bar, show it there until dismissed."""
    QgsMessageLog.logMessage(message, LOG_TAG, Qgis.Critical)
    if bar is not None:
        bar.pushWidget(bar_label(message), Qgis.Critical, 0)


def bar_messages(bar: QgsMessageBar) -> list[str]:
    """The Earth4D messages the bar shows now (for tests and diagnostics)."""
    texts = []
    for item in bar.items():
        widget = item.widget()
        if widget is not None and widget.property("earth4d_text") is not None:
            texts.append(str(widget.property("earth4d_text")))
    return texts
