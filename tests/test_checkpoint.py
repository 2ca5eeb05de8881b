"""The model file: round trip, self-description, and refusal of anything that is not one."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from encoder_specs import small_spec

from earth4d_gis.checkpoint import ModelBundle, load_model_file, safe_torch_load, save_model_file
from earth4d_gis.elevation_prior import ElevationPrior
from earth4d_gis.encoder import EncoderConfig
from earth4d_gis.errors import ModelFileError
from earth4d_gis.geodesy import TimeSpan
from earth4d_gis.model import Earth4DModel
from earth4d_gis.projection import RGBProjection

TINY_SPEC = small_spec((3, 10, 1e6, 1e5), (2, 8, 1e6, 3e5), years=20.0)


def _bundle(span: TimeSpan = TimeSpan()) -> ModelBundle:
    torch.manual_seed(0)
    cfg = EncoderConfig.from_spec("tiny", TINY_SPEC, span)
    model = Earth4DModel(cfg, hidden=(16,), dropout=0.0, backend="reference")
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.uniform_(-0.5, 0.5)
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(100, 64)).astype(np.float32)
    return ModelBundle(
        model=model,
        time_span=span,
        rgb_projection=RGBProjection.fit(emb),
        elevation_prior=ElevationPrior.fit(np.array([37.0]), np.array([-122.0]), np.array([250.0])),
        metrics={"test": {"cosine": 0.5}},
        dataset_fingerprint="abc123",
    )


def test_round_trip_restores_predictions_and_metadata(tmp_path: Path) -> None:
    span = TimeSpan("2000-01-01", "2030-01-01")
    bundle = _bundle(span)
    path = save_model_file(bundle, tmp_path / "final_model.pt")
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o044, "model file should be readable by others (umask)"
    loaded = load_model_file(path, backend="reference")
    coords = torch.rand(50, 4, dtype=torch.float64)
    bundle.model.eval()
    torch.testing.assert_close(loaded.model(coords), bundle.model(coords))
    assert loaded.time_span == span
    assert loaded.metrics == {"test": {"cosine": 0.5}}
    assert loaded.dataset_fingerprint == "abc123"
    assert loaded.fingerprint == bundle.fingerprint and len(loaded.fingerprint) == 64
    assert loaded.elevation_prior.lookup([37.05], [-121.95])[0] == pytest.approx(250.0)
    np.testing.assert_array_equal(loaded.rgb_projection.components, bundle.rgb_projection.components)
    # Self-describing and safe: loads with weights_only=True and names its format.
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "earth4d-gis-model" and raw["encoder_config"]["name"] == "tiny"
    assert not list(tmp_path.glob(".*.tmp")), "no temporary file left behind"


def test_fingerprint_changes_with_weights(tmp_path: Path) -> None:
    a = _bundle()
    save_model_file(a, tmp_path / "a.pt")
    with torch.no_grad():
        next(a.model.decoder.parameters())[0, 0] += 1.0
    save_model_file(a, tmp_path / "b.pt")
    assert load_model_file(tmp_path / "a.pt").fingerprint != load_model_file(tmp_path / "b.pt").fingerprint


def test_time_span_must_match_encoder(tmp_path: Path) -> None:
    bundle = _bundle()
    bundle.time_span = TimeSpan("2000-01-01", "2030-01-01")
    with pytest.raises(ValueError, match="time span"):
        save_model_file(bundle, tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()


class _RunsCode:
    def __reduce__(self):  # noqa: ANN204 - pickle protocol
        return (os.system, ("echo pwned > /dev/null",))


def test_malicious_pickle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": "earth4d-gis-model", "payload": _RunsCode()}, path)
    with pytest.raises(ModelFileError, match="refused to load"):
        load_model_file(path)


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "does not exist"),
        (b"not a torch file at all", "not a readable PyTorch file"),
        (np.random.default_rng(0).bytes(4096), "not a readable PyTorch file"),
        ({"weights": torch.zeros(3)}, "not an earth4d-gis model file"),
        ({"format": "earth4d-gis-model", "format_version": 99}, "format version 99"),
        ({"format": "earth4d-gis-model", "format_version": 2, "decoder": {}}, "damaged"),
    ],
)
def test_bad_model_files_give_one_line_errors(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "model.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(ModelFileError, match=message) as info:
        load_model_file(path)
    assert "\n" not in str(info.value)


def test_safe_load_rejects_folders(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="is a folder"):
        safe_torch_load(tmp_path)
