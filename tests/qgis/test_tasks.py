"""Dialog work as QgsTasks on a tiny model, in-process and via the CLI subprocess: layers, cancel, errors."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyproj import Transformer

from .conftest import AREA, DATE, wait_for

pytestmark = pytest.mark.qgis

MODES = ("in-process", "subprocess")


def _request(tmp_path: Path, model: Path, kind: str, **overrides: Any) -> Any:
    from earth4d.core.request import LayerKind, LayerRequest

    fields: dict[str, Any] = {
        "model": model,
        "output": tmp_path / f"{kind}.tif",
        "kind": LayerKind(kind),
        "date": DATE,
        "bbox": AREA,
        "resolution": 100.0,
    }
    if kind == "similarity":
        fields["point"] = (47.26, 11.40)
    fields.update(overrides)
    return LayerRequest(**fields)


def _use_mode(mode: str, cli: str) -> Any:
    from earth4d.core import settings

    settings.set_run_mode(settings.RunMode(mode))
    settings.set_cli_path(cli if mode == "subprocess" else "")
    return settings.RunMode(mode)


def _run(plugin: Any, request: Any, mode: Any, timeout: float = 180.0) -> None:
    assert plugin.submit(request, mode) is None
    assert plugin.tasks, "a task should be running"
    wait_for(lambda: not plugin.tasks, timeout)


def _messages(iface: Any, level_name: str) -> list[str]:
    from earth4d.gui.messages import bar_messages
    from qgis.core import Qgis

    pushed = iface.messageBar().get_messages(getattr(Qgis, level_name))
    if level_name == "Critical":  # errors are wrapped labels (shown in full, logged once)
        pushed = pushed + [f"Earth4D:{text}" for text in bar_messages(iface.messageBar())]
    return pushed


def _added_layer(request: Any) -> Any:
    from qgis.core import QgsProject

    layers = QgsProject.instance().mapLayersByName(request.layer_name())
    assert len(layers) == 1, f"expected one layer named {request.layer_name()!r}"
    return layers[0]


def render_png(layer: Any, path: Path, size: int = 300) -> np.ndarray:
    """Render ``layer`` alone to a PNG with QgsMapRendererParallelJob; return its RGB pixels."""
    from qgis.core import QgsMapRendererParallelJob, QgsMapSettings
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor, QImage

    map_settings = QgsMapSettings()
    map_settings.setLayers([layer])
    map_settings.setDestinationCrs(layer.crs())
    map_settings.setExtent(layer.extent())
    map_settings.setOutputSize(QSize(size, size))
    map_settings.setBackgroundColor(QColor(255, 255, 255))
    job = QgsMapRendererParallelJob(map_settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage().convertToFormat(QImage.Format_RGB32)
    assert image.save(str(path), "PNG")
    bits = image.constBits()
    bits.setsize(image.sizeInBytes())
    rows = np.frombuffer(bits, np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : image.width() * 4].reshape(image.height(), image.width(), 4)[..., 2::-1].copy()


def _assert_grid(layer: Any, authid: str, resolution: float) -> None:
    assert layer.isValid() and layer.crs().authid() == authid
    if authid == "EPSG:4326":
        expected = AREA
    else:
        to_crs = Transformer.from_crs("EPSG:4326", authid, always_xy=True)
        expected = to_crs.transform_bounds(*AREA, densify_pts=21)
    extent = layer.extent()
    got = (extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum())
    assert got == pytest.approx(expected, abs=1.01 * resolution)
    assert layer.rasterUnitsPerPixelX() == pytest.approx(resolution)


@pytest.mark.parametrize("mode", MODES)
def test_rgb_task_adds_a_styled_layer_that_renders(
    mode: str, plugin: Any, tiny_model: Path, earth4d_cli: str, qgis_iface: Any, tmp_path: Path
) -> None:
    from qgis.core import QgsMultiBandColorRenderer, QgsProject

    request = _request(tmp_path, tiny_model, "rgb")
    _run(plugin, request, _use_mode(mode, earth4d_cli))
    assert not _messages(qgis_iface, "Critical")
    layer = _added_layer(request)
    _assert_grid(layer, "EPSG:32632", 100.0)
    assert layer.bandCount() == 3
    renderer = layer.renderer()
    assert isinstance(renderer, QgsMultiBandColorRenderer)
    assert (renderer.redBand(), renderer.greenBand(), renderer.blueBand()) == (1, 2, 3)
    group = QgsProject.instance().layerTreeRoot().findGroup("Earth4D")
    assert group is not None and group.findLayer(layer.id()) is not None
    assert [p.name for p in tmp_path.iterdir()] == ["rgb.tif"], "no staging leftovers"
    pixels = render_png(layer, tmp_path / "render_rgb.png")
    assert pixels.reshape(-1, 3).std(axis=0).min() > 10.0, "the rendered map is nearly uniform"
    assert (pixels == 255).all(axis=2).mean() < 0.2, "the rendered map is mostly background"


def test_no_model_outlives_the_plugin_after_unload(
    plugin: Any, tiny_model: Path, earth4d_cli: str, tmp_path: Path
) -> None:
    from earth4d.core.model_cache import LOADED_MODELS

    request = _request(tmp_path, tiny_model, "rgb", resolution=200.0)
    _run(plugin, request, _use_mode("in-process", earth4d_cli))
    assert _added_layer(request).isValid()
    loaded = LOADED_MODELS.loaded()
    assert loaded is not None, "the in-process run keeps its model for the next run"
    model_ref = weakref.ref(loaded)
    del loaded
    plugin.unload()
    gc.collect()
    assert model_ref() is None, "the model is still referenced after the plugin unloaded"


@pytest.mark.parametrize(("kind", "mode"), [("clusters", "subprocess"), ("change", "in-process")])
def test_analysis_kinds_from_the_dialog_add_styled_layers(
    kind: str, mode: str, plugin: Any, tiny_model: Path, earth4d_cli: str, qgis_iface: Any, tmp_path: Path
) -> None:
    from qgis.core import QgsPalettedRasterRenderer, QgsSingleBandPseudoColorRenderer

    request = _request(tmp_path, tiny_model, kind, resolution=200.0, since="2019-06-01")
    _run(plugin, request, _use_mode(mode, earth4d_cli))
    assert not _messages(qgis_iface, "Critical")
    layer = _added_layer(request)
    _assert_grid(layer, "EPSG:32632", 200.0)
    names = sorted(p.name for p in tmp_path.iterdir())
    if kind == "clusters":
        assert request.layer_name() == f"Clusters {DATE}"
        renderer = layer.renderer()
        assert isinstance(renderer, QgsPalettedRasterRenderer) and len(renderer.classes()) >= 2
        assert names == ["clusters.centroids.csv", "clusters.tif"], "the centroids land beside the map"
    else:
        assert request.layer_name() == f"Change 2019-06-01 to {DATE}"
        assert isinstance(layer.renderer(), QgsSingleBandPseudoColorRenderer)
        assert "change.tif" in names and any(n.startswith("change.report") for n in names), names
        assert not any(n.startswith(".earth4d-") for n in names)


@pytest.mark.parametrize("mode", MODES)
def test_embeddings_task_uses_the_official_band_combination(
    mode: str, plugin: Any, tiny_model: Path, earth4d_cli: str, tmp_path: Path
) -> None:
    from qgis.core import QgsMultiBandColorRenderer

    request = _request(tmp_path, tiny_model, "embeddings", crs="EPSG:4326", resolution=0.002)
    _run(plugin, request, _use_mode(mode, earth4d_cli))
    layer = _added_layer(request)
    _assert_grid(layer, "EPSG:4326", 0.002)
    assert layer.bandCount() == 64
    renderer = layer.renderer()
    assert isinstance(renderer, QgsMultiBandColorRenderer)
    assert (renderer.redBand(), renderer.greenBand(), renderer.blueBand()) == (2, 17, 10)
    for enhancement in (
        renderer.redContrastEnhancement(),
        renderer.greenContrastEnhancement(),
        renderer.blueContrastEnhancement(),
    ):
        assert (enhancement.minimumValue(), enhancement.maximumValue()) == pytest.approx((-0.3, 0.3))
    assert "A01" in layer.bandName(2) and "A16" in layer.bandName(17) and "A09" in layer.bandName(10)
    pixels = render_png(layer, tmp_path / "render_embeddings.png")
    assert pixels.reshape(-1, 3).std(axis=0).max() > 5.0


@pytest.mark.parametrize("mode", MODES)
def test_similarity_task_uses_a_pseudocolour_ramp(
    mode: str, plugin: Any, tiny_model: Path, earth4d_cli: str, tmp_path: Path
) -> None:
    from qgis.core import QgsSingleBandPseudoColorRenderer

    request = _request(tmp_path, tiny_model, "similarity")
    _run(plugin, request, _use_mode(mode, earth4d_cli))
    layer = _added_layer(request)
    _assert_grid(layer, "EPSG:32632", 100.0)
    assert layer.bandCount() == 1
    renderer = layer.renderer()
    assert isinstance(renderer, QgsSingleBandPseudoColorRenderer) and renderer.band() == 1
    items = renderer.shader().rasterShaderFunction().colorRampItemList()
    assert len(items) >= 2 and items[0].color != items[-1].color
    assert renderer.classificationMin() < renderer.classificationMax() <= 1.0 + 1e-6
    pixels = render_png(layer, tmp_path / "render_similarity.png")
    assert pixels.reshape(-1, 3).std(axis=0).max() > 10.0


@pytest.mark.parametrize("mode", MODES)
def test_cancel_stops_the_task_and_leaves_no_file(
    mode: str, plugin: Any, tiny_model: Path, earth4d_cli: str, qgis_iface: Any, tmp_path: Path
) -> None:
    from qgis.core import QgsProject

    request = _request(tmp_path, tiny_model, "embeddings", resolution=10.0)
    run_mode = _use_mode(mode, earth4d_cli)
    assert plugin.submit(request, run_mode) is None
    task = plugin.tasks[-1]
    task.progressChanged.connect(lambda value: value > 0 and task.cancel())
    wait_for(lambda: not plugin.tasks, 180.0)
    assert task.was_cancelled and task.result_path is None
    assert list(tmp_path.iterdir()) == [], "cancel must leave neither the output nor a partial file"
    assert not QgsProject.instance().mapLayers()
    assert "Earth4D:Cancelled; no output was written." in _messages(qgis_iface, "Info")


@pytest.mark.parametrize("content", ["torch-file", "garbage"])
@pytest.mark.parametrize("mode", MODES)
def test_invalid_model_is_one_clear_message_bar_error(
    mode: str, content: str, plugin: Any, earth4d_cli: str, qgis_iface: Any, tmp_path: Path
) -> None:
    import torch
    from qgis.core import QgsApplication

    logged: list[str] = []
    QgsApplication.messageLog().messageReceived.connect(lambda message, tag, level: logged.append(message))
    bad_model = tmp_path / "not_a_model.pt"
    if content == "torch-file":
        torch.save({"weights": torch.zeros(3)}, bad_model)
    else:
        bad_model.write_bytes(b"this is not a model file")
    out = tmp_path / "out"
    out.mkdir()
    request = _request(out, bad_model, "rgb")
    _run(plugin, request, _use_mode(mode, earth4d_cli))
    errors = _messages(qgis_iface, "Critical")
    assert len(errors) == 1
    message = errors[0].removeprefix("Earth4D:")
    assert str(bad_model) in message
    assert "not an earth4d-gis model" in message or "not a readable" in message, message
    assert "\n" not in message and "Traceback" not in message
    assert sum(message in entry for entry in logged) == 1, "each error is logged once"
    assert list(out.iterdir()) == []
