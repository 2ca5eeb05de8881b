"""The toolbar dialog: model, date, area, resolution, output kind and file, and where the core runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from qgis.core import QgsCoordinateReferenceSystem, QgsMapLayerProxyModel
from qgis.gui import (
    QgisInterface,
    QgsDoubleSpinBox,
    QgsFileWidget,
    QgsMapLayerComboBox,
    QgsProjectionSelectionWidget,
)
from qgis.PyQt.QtCore import QDate, Qt
from qgis.PyQt.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..core import settings
from ..core.area import (
    export_polygons,
    layer_bbox_wgs84,
    metres_to_crs_units,
    rectangle_to_wgs84,
    suggested_resolution,
)
from ..core.errors import PluginError
from ..core.request import Bbox, LayerKind, LayerRequest
from .map_tool import PointPicker

AREA_CANVAS, AREA_LAYER = 0, 1
KIND_LABELS = {
    LayerKind.RGB: "RGB image (3 bands)",
    LayerKind.EMBEDDINGS: "Embeddings (64 bands A00..A63)",
    LayerKind.SIMILARITY: "Similarity to a point",
    LayerKind.CLUSTERS: "Clusters (k-means classes, k chosen by silhouette)",
    LayerKind.CHANGE: "Change since another date (1 − cosine)",
}
Submit = Callable[[LayerRequest], str | None]
"""Starts the work; returns None when it started, else the one-sentence reason it did not."""
AddLive = Callable[[Path, str, str], str | None]
"""Adds a live layer (model, date, style); None when it started, else why not."""
SetLiveDate = Callable[[str], str | None]
"""Shows the selected (else the latest) live layer at a date; None, else why not."""
LIVE_STYLES = {"rgb": "Model RGB", "bands": "A01 / A16 / A09 (official bands)"}


def coordinate_box_width(spin: QgsDoubleSpinBox) -> int:
    """Wide enough for "-180.000000" plus the box's clear button and arrows, in this font."""
    metrics = spin.fontMetrics()
    return metrics.horizontalAdvance("-180.000000") + 3 * metrics.height() + 16


def unique_path(folder: Path, stem: str, suffix: str = ".tif", taken: frozenset[Path] = frozenset()) -> Path:
    """``folder/stem.tif``, or ``stem_2.tif``... if taken: a default never points at a user's file."""
    candidate = folder / f"{stem}{suffix}"
    counter = 2
    while candidate.exists() or candidate in taken:
        candidate = folder / f"{stem}_{counter}{suffix}"
        counter += 1
    return candidate


class Earth4DDialog(QDialog):
    """Collects one ``LayerRequest``; ``submit(request, mode)`` returns True when work started."""

    def __init__(
        self,
        iface: QgisInterface,
        submit: Submit,
        add_live: AddLive | None = None,
        set_live_date: SetLiveDate | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent or iface.mainWindow())
        self.iface = iface
        self._submit = submit
        self._add_live = add_live
        self._set_live_date = set_live_date
        self._auto_output: Path | None = None
        self._submitted: set[Path] = set()
        self._bbox: Bbox | None = None
        self.settings_dialog = None
        self.picker = PointPicker(iface.mapCanvas())
        self.picker.picked.connect(self._on_point_picked)
        self.setWindowTitle("Earth4D: predict an AlphaEarth layer")
        self._build()

    def _build(self) -> None:
        self.error_label = QLabel(self)
        self.error_label.setObjectName("earth4dError")
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.error_label.setStyleSheet(
            "QLabel { color: #8b0000; background: #fde8e8; border: 1px solid #e0a0a0; padding: 6px; }"
        )
        self.error_label.setVisible(False)
        self.setup_banner = self._setup_banner()
        form = QFormLayout()

        self.model_widget = QgsFileWidget(self)
        self.model_widget.setStorageMode(QgsFileWidget.GetFile)
        self.model_widget.setFilter("Earth4D model (*.pt);;All files (*)")
        self.model_widget.setFilePath(settings.model_path())
        form.addRow("Model file", self.model_widget)

        self.date_edit = QDateEdit(self)
        self.date_edit.setCalendarPopup(True)
        self.date_edit.setDisplayFormat("yyyy-MM-dd")
        last = QDate.fromString(settings.last_date(), "yyyy-MM-dd")
        self.date_edit.setDate(last if last.isValid() else QDate(2024, 6, 1))
        self.date_edit.dateChanged.connect(self._update_default_output)
        form.addRow("Date", self.date_edit)

        self.area_combo = QComboBox(self)
        self.area_combo.addItem("Current map extent", AREA_CANVAS)
        self.area_combo.addItem("Features of a polygon layer", AREA_LAYER)
        self.layer_combo = QgsMapLayerComboBox(self)
        self.layer_combo.setFilters(QgsMapLayerProxyModel.PolygonLayer)
        self.refresh_button = QPushButton("Use current map extent", self)
        self.refresh_button.clicked.connect(self.refresh_from_canvas)
        self.area_combo.currentIndexChanged.connect(self._on_area_mode)
        self.layer_combo.layerChanged.connect(lambda _layer: self._on_area_mode())
        self.bbox_label = QLabel(self)
        self.bbox_label.setWordWrap(True)
        area_row = QHBoxLayout()
        area_row.addWidget(self.area_combo)
        area_row.addWidget(self.refresh_button)
        form.addRow("Area", area_row)
        form.addRow("Polygon layer", self.layer_combo)
        form.addRow("Area in EPSG:4326", self.bbox_label)

        self.resolution_spin = QgsDoubleSpinBox(self)
        self.resolution_spin.setRange(0.01, 1_000_000.0)
        self.resolution_spin.setDecimals(2)
        self.resolution_spin.setSuffix(" m")
        self.resolution_spin.setClearValue(10.0)
        form.addRow("Resolution", self.resolution_spin)

        self.crs_widget = QgsProjectionSelectionWidget(self)
        self.crs_widget.setOptionVisible(QgsProjectionSelectionWidget.CrsNotSet, True)
        self.crs_widget.setNotSetText("UTM zone of the area's centre")
        self.crs_widget.setCrs(QgsCoordinateReferenceSystem())
        form.addRow("Output CRS", self.crs_widget)

        self.kind_combo = QComboBox(self)
        for kind, label in KIND_LABELS.items():
            self.kind_combo.addItem(label, kind.value)
        remembered = self.kind_combo.findData(settings.output_kind())
        self.kind_combo.setCurrentIndex(max(remembered, 0))
        self.kind_combo.currentIndexChanged.connect(self._on_kind)
        form.addRow("Output", self.kind_combo)

        self.lat_spin = QgsDoubleSpinBox(self)
        self.lat_spin.setRange(-90.0, 90.0)
        self.lat_spin.setDecimals(6)
        self.lon_spin = QgsDoubleSpinBox(self)
        self.lon_spin.setRange(-180.0, 180.0)
        self.lon_spin.setDecimals(6)
        for spin in (self.lat_spin, self.lon_spin):
            spin.setMinimumWidth(coordinate_box_width(spin))
        self.pick_button = QPushButton("Pick on map", self)
        self.pick_button.clicked.connect(self.start_picking)
        point_row = QHBoxLayout()
        point_row.addWidget(QLabel("lat", self))
        point_row.addWidget(self.lat_spin)
        point_row.addWidget(QLabel("lon", self))
        point_row.addWidget(self.lon_spin)
        point_row.addWidget(self.pick_button)
        form.addRow("Similar to", point_row)

        self.since_edit = QDateEdit(self)
        self.since_edit.setCalendarPopup(True)
        self.since_edit.setDisplayFormat("yyyy-MM-dd")
        self.since_edit.setDate(self.date_edit.date().addYears(-4))
        form.addRow("Change since", self.since_edit)

        self.output_widget = QgsFileWidget(self)
        self.output_widget.setStorageMode(QgsFileWidget.SaveFile)
        self.output_widget.setFilter("GeoTIFF (*.tif)")
        self.overwrite_check = QCheckBox("Replace the file if it exists", self)
        form.addRow("Output file", self.output_widget)
        form.addRow("", self.overwrite_check)

        live = QGroupBox("Live layer", self)
        live.setToolTip(
            "Tiles computed by the model on demand for any date: runs earth4d-gis serve in the plugin's "
            "environment on this machine (127.0.0.1) and adds it as an XYZ layer."
        )
        live_form = QFormLayout(live)
        self.live_style_combo = QComboBox(live)
        for style, label in LIVE_STYLES.items():
            self.live_style_combo.addItem(label, style)
        self.add_live_button = QPushButton("Add live layer", live)
        self.add_live_button.setObjectName("earth4dAddLiveLayer")
        self.add_live_button.clicked.connect(self.add_live_layer)
        self.live_date_button = QPushButton("Show live layer at this date", live)
        self.live_date_button.setObjectName("earth4dLiveLayerDate")
        self.live_date_button.clicked.connect(self.set_live_date)
        live_buttons = QHBoxLayout()
        live_buttons.addWidget(self.add_live_button)
        live_buttons.addWidget(self.live_date_button)
        live_form.addRow("Style", self.live_style_combo)
        live_form.addRow("", live_buttons)
        live.setVisible(self._add_live is not None)

        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Close, self)
        self.buttons.button(QDialogButtonBox.Ok).setText("Run")
        self.settings_button = self.buttons.addButton("Settings…", QDialogButtonBox.ResetRole)
        self.settings_button.setObjectName("earth4dSettings")
        self.settings_button.clicked.connect(self.open_settings)
        self.buttons.accepted.connect(self.run)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(self.setup_banner)
        layout.addWidget(self.error_label)
        layout.addLayout(form)
        layout.addWidget(live)
        layout.addWidget(self.buttons)
        self._on_kind()
        self._on_area_mode()
        self.refresh_setup_banner()

    def _setup_banner(self) -> QWidget:
        """The first-run prompt: shown while nothing can run the model yet."""
        banner = QWidget(self)
        banner.setObjectName("earth4dSetupBanner")
        row = QHBoxLayout(banner)
        row.setContentsMargins(6, 6, 6, 6)
        text = QLabel(
            "Earth4D needs its Python environment (earth4d-gis and torch) before it can run a model. "
            "Set it up once; it stays in your QGIS profile.",
            banner,
        )
        text.setWordWrap(True)
        button = QPushButton("Set up…", banner)
        button.setObjectName("earth4dSetupNow")
        button.clicked.connect(self.open_settings)
        row.addWidget(text, 1)
        row.addWidget(button)
        banner.setStyleSheet("#earth4dSetupBanner { background: #fff4ce; border: 1px solid #e0c060; }")
        return banner

    def refresh_setup_banner(self) -> None:
        from .settings_page import needs_setup

        self.setup_banner.setVisible(needs_setup())

    def open_settings(self) -> None:
        """The settings page in its own window (modal: the dialog reflects it when it closes). One window,
        kept: a set-up running in the background keeps reporting to it."""
        from .settings_page import SettingsDialog

        if self.settings_dialog is None:
            self.settings_dialog = SettingsDialog(self)
            self.settings_dialog.finished.connect(lambda _result: self.refresh_setup_banner())
        self.settings_dialog.open()

    def show_error(self, message: str) -> None:
        """The whole message, wrapped, at the top of the dialog (the plugin logged it already, once)."""
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))

    # --- state ---------------------------------------------------------------------------------------

    def kind(self) -> LayerKind:
        return LayerKind(self.kind_combo.currentData())

    def set_kind(self, kind: LayerKind) -> None:
        self.kind_combo.setCurrentIndex(self.kind_combo.findData(LayerKind(kind).value))

    def date(self) -> str:
        return self.date_edit.date().toString("yyyy-MM-dd")

    def bbox_wgs84(self) -> Bbox:
        """The chosen area as (west, south, east, north) in EPSG:4326."""
        if self._bbox is None:
            raise PluginError("The area is not set; zoom the map to it or choose a polygon layer.")
        return self._bbox

    def _set_bbox(self, bbox: Bbox | None, note: str = "") -> None:
        self._bbox = bbox
        if bbox is None:
            self.bbox_label.setText(note)
            return
        west, south, east, north = bbox
        self.bbox_label.setText(f"W {west:.5f}  S {south:.5f}  E {east:.5f}  N {north:.5f}{note}")

    def refresh_from_canvas(self) -> None:
        """Use the current map extent as the area (switching to that mode if a layer was chosen)."""
        if self.area_combo.currentData() != AREA_CANVAS:
            self.area_combo.setCurrentIndex(self.area_combo.findData(AREA_CANVAS))
            return
        self._area_from_canvas()

    def refresh_area(self) -> None:
        """Recompute the area for the current mode: the map extent now, or the chosen layer's features."""
        self._on_area_mode()

    def _area_from_canvas(self) -> None:
        """Take the area (and a resolution giving ~1000 pixels across) from the current map extent."""
        settings_ = self.iface.mapCanvas().mapSettings()
        try:
            bbox = rectangle_to_wgs84(self.iface.mapCanvas().extent(), settings_.destinationCrs())
        except PluginError as exc:
            self._set_bbox(None, str(exc))
            return
        self._set_bbox(bbox, " (crosses 180°)" if bbox[0] > bbox[2] else "")
        self.resolution_spin.setValue(suggested_resolution(bbox))
        centre = self.iface.mapCanvas().extent().center()
        if self.lat_spin.value() == 0.0 and self.lon_spin.value() == 0.0:
            from .map_tool import canvas_point_to_wgs84

            lat, lon = canvas_point_to_wgs84(self.iface.mapCanvas(), centre)
            self.set_point(lat, lon)

    def _on_area_mode(self, *_args: object) -> None:
        by_layer = self.area_combo.currentData() == AREA_LAYER
        self.layer_combo.setEnabled(by_layer)
        self.refresh_button.setEnabled(True)
        if not by_layer:
            self._area_from_canvas()
            return
        layer = self.layer_combo.currentLayer()
        if layer is None:
            self._set_bbox(None, "No polygon layer in the project.")
            return
        try:
            bbox = layer_bbox_wgs84(layer)
        except PluginError as exc:
            self._set_bbox(None, str(exc))
            return
        self._set_bbox(bbox, f" (features of {layer.name()})")
        self.resolution_spin.setValue(suggested_resolution(bbox))

    def _on_kind(self, *_args: object) -> None:
        similarity = self.kind() is LayerKind.SIMILARITY
        for widget in (self.lat_spin, self.lon_spin, self.pick_button):
            widget.setEnabled(similarity)
        self.since_edit.setEnabled(self.kind() is LayerKind.CHANGE)
        self._update_default_output()

    def _update_default_output(self, *_args: object) -> None:
        current = self.output_widget.filePath().strip()
        if current and (self._auto_output is None or Path(current) != self._auto_output):
            return
        folder = Path(settings.output_folder() or Path.home())
        if not folder.is_dir():
            folder = Path.home()
        self._auto_output = unique_path(
            folder, f"earth4d_{self.kind().value}_{self.date()}", taken=frozenset(self._submitted)
        )
        self.output_widget.setFilePath(str(self._auto_output))

    def set_point(self, lat: float, lon: float) -> None:
        self.lat_spin.setValue(lat)
        self.lon_spin.setValue(((lon + 180.0) % 360.0) - 180.0)

    def start_picking(self) -> None:
        """Hide the dialog while the user clicks the place to compare with."""
        self.hide()
        self.iface.messageBar().pushMessage(
            "Earth4D", "Click the map at the place to compare with.", duration=5
        )
        self.picker.start()

    def _on_point_picked(self, lat: float, lon: float) -> None:
        self.set_point(lat, lon)
        self.show()
        self.raise_()

    # --- run -----------------------------------------------------------------------------------------

    def build_request(self) -> LayerRequest:
        """The request the widgets describe; ``PluginError`` for what the widgets alone can tell is wrong."""
        bbox = self.bbox_wgs84()
        crs = self.crs_widget.crs()
        crs_authid = crs.authid() if crs.isValid() else None
        if crs.isValid() and not crs_authid:
            crs_authid = crs.toWkt()
        aoi = None
        area_label = ""
        if self.area_combo.currentData() == AREA_LAYER:
            layer = self.layer_combo.currentLayer()
            aoi = export_polygons(layer)
            area_label = layer.name()
        point = (
            (self.lat_spin.value(), self.lon_spin.value()) if self.kind() is LayerKind.SIMILARITY else None
        )
        return LayerRequest(
            model=Path(self.model_widget.filePath().strip()),
            output=Path(self.output_widget.filePath().strip()),
            kind=self.kind(),
            date=self.date(),
            bbox=bbox,
            resolution=metres_to_crs_units(self.resolution_spin.value(), crs_authid, bbox),
            crs=crs_authid,
            aoi=aoi,
            point=point,
            overwrite=self.overwrite_check.isChecked(),
            area_label=area_label,
            since=self.since_edit.date().toString("yyyy-MM-dd") if self.kind() is LayerKind.CHANGE else None,
        )

    def save_settings(self) -> None:
        """Remember the model, date, output kind and folder for next time."""
        settings.set_model_path(self.model_widget.filePath().strip())
        settings.set_last_date(self.date())
        settings.set_output_kind(self.kind().value)
        output = self.output_widget.filePath().strip()
        if output:
            settings.set_output_folder(str(Path(output).parent))

    def run(self) -> None:
        """Start the work; the dialog closes when it started and stays open showing the error otherwise."""
        self.show_error("")
        self.save_settings()
        try:
            request = self.build_request()
        except PluginError as exc:
            self.show_error(str(exc))
            return
        problem = self._submit(request)
        if problem is not None:
            self.show_error(problem)
            return
        self._submitted.add(request.output)
        self._auto_output = None
        self.output_widget.setFilePath("")
        self._update_default_output()
        self.accept()

    def add_live_layer(self) -> None:
        """Add a live layer of the chosen model at the chosen date (the server starts in the background)."""
        self.show_error("")
        self.save_settings()
        model = self.model_widget.filePath().strip()
        if not model:
            self.show_error("Choose a model file first.")
            return
        if self._add_live is not None:
            problem = self._add_live(Path(model), self.date(), self.live_style_combo.currentData())
            if problem is not None:
                self.show_error(problem)

    def set_live_date(self) -> None:
        """Show the selected (else the latest) live layer at the date above."""
        self.show_error("")
        if self._set_live_date is not None:
            problem = self._set_live_date(self.date())
            if problem is not None:
                self.show_error(problem)

    def closeEvent(self, event: object) -> None:  # noqa: N802 - Qt's name
        self.picker.finish()
        super().closeEvent(event)
