"""The sample bank and the neighbour blend: leave-one-out queries, features, IDW start, the model file."""

from __future__ import annotations

import re
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from pykdtree.kdtree import KDTree
from scipy.spatial import cKDTree
from threadpoolctl import threadpool_info

from earth4d_gis.checkpoint import ModelBundle, load_model_file, save_model_file
from earth4d_gis.encoder import EncoderConfig
from earth4d_gis.errors import InputError
from earth4d_gis.geodesy import ECEF_SCALE, TimeSpan, geodetic_to_ecef, normalized_coordinates
from earth4d_gis.model import Earth4DModel
from earth4d_gis.neighbours import (
    EMBEDDING_SCALE,
    FUSED_MAX_NEIGHBOURS,
    GatheredRows,
    NeighbourBlend,
    SampleBank,
    SharedRows,
    rows,
)
from earth4d_gis.train.metrics import mean_cosine


def _points(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lat = 37.5 + rng.random(n) * 0.5
    lon = -122.5 + rng.random(n) * 0.5
    elev = rng.random(n) * 800.0
    years = 2017 + rng.integers(0, 8, n)
    time = np.array([f"{y}-06-01" for y in years], dtype="datetime64[s]")
    emb = rng.normal(size=(n, 64)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return lat, lon, elev, time, emb


def _bank(n: int = 500, k: int = 8) -> tuple[SampleBank, np.ndarray, np.ndarray]:
    lat, lon, elev, time, emb = _points(n)
    coords = normalized_coordinates(lat, lon, elev, time)
    return SampleBank.from_samples(coords, emb, k, TimeSpan()), coords, emb


def test_query_returns_the_nearest_samples_in_metres() -> None:
    bank, coords, _ = _bank()
    idx, dist = bank.query(coords[:20])
    assert idx.shape == dist.shape == (20, 9), "k + 1 neighbours: the last one sets the taper"
    assert torch.equal(idx[:, 0], torch.arange(20)), "a bank sample is its own nearest neighbour"
    assert float(dist[:, 0].max()) < 1.0, "float32 storage keeps positions to about a metre"
    assert bool((dist[:, 1:] >= dist[:, :-1]).all())


def test_leave_one_out_query_never_returns_the_sample_itself() -> None:
    bank, coords, _ = _bank()
    idx, dist = bank.query(coords, exclude=np.arange(len(coords)))
    assert idx.shape == (len(coords), 9)
    assert not bool((idx == torch.arange(len(coords))[:, None]).any())
    plain_idx, _ = bank.query(coords)
    # The others are the same as without exclusion, shifted by one.
    assert torch.equal(idx[:, :8], plain_idx[:, 1:9])


def _openmp_threads() -> set[int]:
    """The thread counts the loaded OpenMP runtimes would use for a parallel region started here."""
    return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "openmp"}


class _RecordingTree:
    """A k-d tree that notes how many OpenMP threads each query may use."""

    def __init__(self, tree: KDTree) -> None:
        self.tree, self.threads = tree, []

    def query(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        self.threads.append(_openmp_threads())
        return self.tree.query(x, k=k)


def test_neighbour_search_uses_as_many_threads_as_torch() -> None:
    bank, coords, _ = _bank()
    recorder = _RecordingTree(bank.tree)
    bank._tree = recorder  # type: ignore[assignment]
    outside = _openmp_threads()
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one_thread, _ = bank.query(coords[:50])
        torch.set_num_threads(2)
        two_threads, _ = bank.query(coords[:50])
    finally:
        torch.set_num_threads(before)
    bank.query(coords[:50], workers=3)
    assert recorder.threads == [{1}, {2}, {3}], "a tile server thread with one torch thread searches on one"
    assert _openmp_threads() == outside, "the limit ends with the search"
    assert torch.equal(one_thread, two_threads)
    with pytest.raises(InputError, match="threads 0"):
        bank.query(coords[:5], workers=0)


def test_search_finds_the_same_neighbours_as_a_brute_force_search() -> None:
    bank, coords, _ = _bank(n=400, k=12)
    rng = np.random.default_rng(3)
    queries = coords[rng.choice(len(coords), 60, replace=False)] + rng.normal(scale=1e-6, size=(60, 4))
    idx, dist = bank.query(queries)
    samples_m = (bank.coords[:, :3].double().numpy() * 2.0 - 1.0) * ECEF_SCALE
    queries_m = (queries[:, :3] * 2.0 - 1.0) * ECEF_SCALE
    every = np.linalg.norm(queries_m[:, None, :] - samples_m[None, :, :], axis=2)
    expected = np.sort(every, axis=1)[:, :13]
    np.testing.assert_allclose(np.take_along_axis(every, idx.numpy(), 1), expected, rtol=1e-9)
    np.testing.assert_allclose(dist.numpy(), expected, rtol=1e-6, atol=1e-3)


def test_pair_features_hold_distance_height_and_years() -> None:
    bank, coords, _ = _bank()
    query = torch.from_numpy(normalized_coordinates([37.7], [-122.3], [1000.0], ["2024-06-01"]))
    idx, dist = bank.query(query)
    pairs = bank.pair_features(query, idx, dist)
    lat, lon, elev, time, _ = _points(500)
    j = int(idx[0, 0])
    assert float(pairs[0, 0, 0]) == pytest.approx(np.log(max(float(dist[0, 0]), 1.0)) / 10.0, rel=1e-5)
    assert float(pairs[0, 0, 1]) == pytest.approx((1000.0 - elev[j]) / 1000.0, abs=2e-3)
    years = (np.datetime64("2024-06-01") - time[j]).astype("timedelta64[D]").astype(float) / 365.25
    assert float(pairs[0, 0, 3]) == pytest.approx(abs(years), abs=1e-2)


def test_untrained_blend_is_tapered_inverse_distance_weighting(tiny_config: EncoderConfig) -> None:
    bank, coords, emb = _bank(k=16)
    model = Earth4DModel(tiny_config, hidden=(16,), bank=bank).eval()
    lat, lon, elev, time, truth = _points(200, seed=1)
    query = normalized_coordinates(lat, lon, elev, time)
    with torch.no_grad():
        out = model(torch.from_numpy(query)).numpy()
    lat0, lon0, elev0, _, _ = _points(500)
    dist, idx = cKDTree(geodetic_to_ecef(lat0, lon0, elev0)).query(geodetic_to_ecef(lat, lon, elev), k=17)
    dist = np.maximum(dist, 1.0)
    weights = (1.0 / dist) * np.clip(1.0 - (dist / dist[:, -1:]) ** 8, 1e-6, None)
    expected = np.einsum("qk,qkd->qd", weights / weights.sum(1, keepdims=True), emb[idx])
    # The field starts near zero and the gate near 0.88: the direction is that of inverse-distance
    # weights tapered to zero at the 17th neighbour (random unit targets average to short vectors, so
    # the small field still shows a little).
    assert mean_cosine(out, expected) > 0.95


def test_the_last_neighbour_has_no_weight_so_maps_have_no_seams() -> None:
    gen = torch.Generator().manual_seed(0)
    blend = NeighbourBlend()
    field = torch.randn(4, 64, generator=gen) * 0.1
    neighbours = torch.randn(4, 9, 64, generator=gen) * 0.1
    dist = torch.sort(torch.rand(4, 9, generator=gen) * 5000.0 + 10.0, dim=1).values
    pairs = torch.zeros(4, 9, 5)
    pairs[..., 0] = torch.log(dist) / 10.0

    def run(rows: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        codes = rows * EMBEDDING_SCALE
        return blend(field, GatheredRows(codes, torch.linalg.vector_norm(codes, dim=2)), features)

    out = run(neighbours, pairs)
    swapped = neighbours.clone()
    swapped[:, -1] = torch.randn(4, 64, generator=gen)
    # Whichever sample is the (k+1)-th, the result is the same: a sample entering the set starts at 0.
    assert torch.allclose(run(swapped, pairs), out, atol=1e-6)
    # As the k-th neighbour moves out to the (k+1)-th's distance, its influence fades continuously.
    near = pairs.clone()
    near[:, -2, 0] = near[:, -1, 0] - 1e-6
    moved = neighbours.clone()
    moved[:, -2] = torch.randn(4, 64, generator=gen)
    assert torch.allclose(run(moved, near), run(neighbours, near), atol=1e-4)


def test_bank_and_blend_survive_the_model_file(tiny_config: EncoderConfig, tmp_path: Path) -> None:
    bank, coords, _ = _bank()
    model = Earth4DModel(tiny_config, hidden=(16,), bank=bank).eval()
    path = save_model_file(ModelBundle(model=model, time_span=tiny_config.time_span), tmp_path / "m.pt")
    loaded = load_model_file(path).model.eval()
    assert torch.equal(loaded.bank.codes, model.bank.codes) and loaded.bank.k == 8
    query = torch.from_numpy(coords[:50])
    with torch.no_grad():
        assert torch.equal(loaded(query), model(query))


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_blend_activation_survives_the_model_file(
    tiny_config: EncoderConfig, tmp_path: Path, activation: str
) -> None:
    bank, _, _ = _bank(n=50)
    model = Earth4DModel(tiny_config, hidden=(16,), bank=bank, blend_activation=activation)
    path = save_model_file(ModelBundle(model=model, time_span=tiny_config.time_span), tmp_path / "m.pt")
    blend = load_model_file(path).model.blend
    assert blend is not None and blend.activation == activation
    expected = torch.nn.ReLU if activation == "relu" else torch.nn.GELU
    assert isinstance(blend.attention[1], expected) and isinstance(blend.gate[1], expected)


def test_model_files_from_before_the_relu_blend_keep_their_gelu(tiny_config: EncoderConfig) -> None:
    bank, _, _ = _bank(n=50)
    description = Earth4DModel(tiny_config, hidden=(16,), bank=bank).describe()
    assert description["bank"]["activation"] == "relu"  # new models: the default
    del description["bank"]["activation"]  # as files written before the option
    rebuilt = Earth4DModel.from_description(description)
    assert rebuilt.blend is not None and rebuilt.blend.activation == "gelu"
    assert isinstance(rebuilt.blend.attention[1], torch.nn.GELU)


def test_unknown_blend_activation_is_refused() -> None:
    with pytest.raises(InputError, match="'tanh'"):
        NeighbourBlend(activation="tanh")


def test_neighbour_count_must_be_positive() -> None:
    with pytest.raises(InputError, match="k = 0"):
        SampleBank(10, 0, TimeSpan())


def test_stacked_step_teaches_the_blend_nothing_from_the_network_rows(tiny_config: EncoderConfig) -> None:
    """Stacking: the blend's loss reaches only the blend; the network's loss only the network."""
    from earth4d_gis.train.build import ModelStep

    bank, coords, emb = _bank(k=8)
    model = Earth4DModel(tiny_config, hidden=(16,), bank=bank)
    step = ModelStep(model, None)
    x = torch.from_numpy(coords[:40])
    neighbours = bank.query(coords[:40], exclude=np.arange(40))

    def neighbours_of(start: int) -> tuple[torch.Tensor, torch.Tensor]:
        return neighbours[0][start:], neighbours[1][start:]

    out, field = step(x, neighbours, blend_from=30)
    assert out.shape == (10, 64) and field.shape == (30, 64)
    with torch.no_grad():
        assert torch.allclose(field, model.field(x[:30]), atol=1e-6)
        blend = model.blend_with(x[30:], model.field(x[30:]), neighbours_of(30))
        assert torch.allclose(out, blend, atol=1e-6)
    out.sum().backward()
    assert all(p.grad is None or not p.grad.any() for p in model.decoder.parameters())
    assert all(p.grad is None or not p.grad.any() for p in model.encoder.parameters())
    assert any(p.grad is not None and p.grad.any() for p in model.blend.parameters())
    model.zero_grad(set_to_none=True)
    out, field = step(x, neighbours, blend_from=30)
    field.sum().backward()
    assert all(p.grad is None for p in model.blend.parameters())
    assert any(p.grad is not None and p.grad.any() for p in model.decoder.parameters())


def test_inference_in_chunks_equals_one_pass(tiny_config: EncoderConfig) -> None:
    from earth4d_gis import model as model_module

    bank, coords, _ = _bank(k=8)
    model = Earth4DModel(tiny_config, hidden=(16,), bank=bank).eval()
    model.fuse_blend = False  # the module's own path, which is the one that runs in chunks
    x = torch.from_numpy(coords[:300])
    with torch.no_grad():
        whole = model(x)
        saved = model_module._BLEND_CHUNK
        model_module._BLEND_CHUNK = 64
        try:
            chunked = model(x)
        finally:
            model_module._BLEND_CHUNK = saved
    assert torch.allclose(whole, chunked, atol=1e-6)


def test_rows_gathers_like_indexing() -> None:
    table = torch.arange(60, dtype=torch.float32).reshape(20, 3)
    idx = torch.tensor([[3, 0, 19], [7, 7, 1]])
    assert torch.equal(rows(table, idx), table[idx])
    assert torch.equal(rows(table[:, 1], idx), table[:, 1][idx])


def test_field_equals_the_decoder_on_concatenated_features(tiny_config: EncoderConfig) -> None:
    """The field's first layer runs by column blocks; it must equal the plain decoder on [grids, smooth]."""
    model = Earth4DModel(tiny_config, hidden=(16, 8))
    x = torch.from_numpy(_bank()[1][:50])
    with torch.no_grad():
        plain = model.decoder(torch.cat([model.encoder(x), model.smooth(x)], dim=1))
        assert torch.allclose(model.field(x), plain, atol=1e-5)


def test_shared_rows_blend_as_the_gathered_copies() -> None:
    gen = torch.Generator().manual_seed(1)
    bank, coords, _ = _bank(n=300, k=8)
    # Nearby queries: many neighbours in common, so the bank hands out shared rows.
    query = torch.from_numpy(coords[:1]).repeat(64, 1)
    query[:, 0] += torch.arange(64, dtype=torch.float64) * 1e-9
    idx, _ = bank.query(query)
    with torch.no_grad():
        shared = bank.neighbour_rows(idx)
    assert isinstance(shared, SharedRows)
    gathered = GatheredRows(bank.code_rows(idx), rows(bank.norms(), idx))
    unit = torch.nn.functional.normalize(torch.randn(64, 64, generator=gen), dim=1)
    torch.testing.assert_close(shared.cosines(unit), gathered.cosines(unit))
    weights = torch.softmax(torch.randn(64, idx.shape[1], generator=gen), dim=1)
    torch.testing.assert_close(shared.mix(weights), gathered.mix(weights))
    # Scattered queries get their own copies, and so does anything computed with gradients (training).
    far, _ = bank.query(torch.from_numpy(coords[:64]))
    with torch.no_grad():
        assert isinstance(bank.neighbour_rows(far), GatheredRows)
    with torch.enable_grad():
        assert isinstance(bank.neighbour_rows(idx), GatheredRows)


def _randomised_blend(model: Earth4DModel, seed: int = 3) -> Earth4DModel:
    """Random weights in every layer of the blend (an untrained one's attention output is all zero)."""
    gen = torch.Generator().manual_seed(seed)
    assert model.blend is not None
    with torch.no_grad():
        for parameter in model.blend.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=gen) * 0.5)
    return model.eval()


def _blend_queries(coords: np.ndarray) -> torch.Tensor:
    """Queries on bank samples (distance 0: clamped to 1 m), near them at other dates and heights, and
    scattered ones."""
    lat, lon, elev, time, _ = _points(200, seed=5)
    scattered = normalized_coordinates(lat, lon, elev, time)
    near = coords[:100].copy()
    near[:, :3] += 2e-7
    near[:, 3] = scattered[:100, 3]
    return torch.from_numpy(np.concatenate([coords[:50], near, scattered]))


@pytest.mark.parametrize("k", [1, 8, 40])
def test_fused_blend_gives_the_modules_numbers(
    tiny_config: EncoderConfig, monkeypatch: pytest.MonkeyPatch, k: int
) -> None:
    from earth4d_gis import model as model_module

    bank, coords, _ = _bank(n=500, k=k)
    model = _randomised_blend(Earth4DModel(tiny_config, hidden=(16,), bank=bank))
    x = _blend_queries(coords)
    calls = mock.Mock(wraps=model_module.fused_blend)
    monkeypatch.setattr(model_module, "fused_blend", calls)
    with torch.no_grad():
        fused = model(x)
        assert calls.call_count == 1, "inference on the CPU blends in the native kernel"
        model.fuse_blend = False
        plain = model(x)
        moved = float((fused - model.field(x)).abs().max())
    assert calls.call_count == 1
    torch.testing.assert_close(fused, plain, atol=2e-6, rtol=1e-5)
    assert moved > 0.01, "the neighbours change the prediction: the comparison is not of the field alone"


def test_fused_blend_is_not_used_for_training_gelu_other_widths_or_the_reference_backend(
    tiny_config: EncoderConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from earth4d_gis import model as model_module

    bank, coords, _ = _bank(n=300, k=8)
    x = _blend_queries(coords)
    calls = mock.Mock(wraps=model_module.fused_blend)
    monkeypatch.setattr(model_module, "fused_blend", calls)
    relu = _randomised_blend(Earth4DModel(tiny_config, hidden=(16,), bank=bank))
    relu(x).sum().backward()  # gradients: the module's path, which autograd can follow
    gelu = _randomised_blend(Earth4DModel(tiny_config, hidden=(16,), bank=bank, blend_activation="gelu"))
    reference = _randomised_blend(Earth4DModel(tiny_config, hidden=(16,), bank=bank, backend="reference"))
    narrow = Earth4DModel(tiny_config, hidden=(16,), bank=bank)
    narrow.blend = NeighbourBlend(width=16)
    many, many_coords, _ = _bank(n=400, k=FUSED_MAX_NEIGHBOURS)
    crowded = _randomised_blend(Earth4DModel(tiny_config, hidden=(16,), bank=many))
    with torch.no_grad():
        gelu(x)
        reference(x)
        narrow.eval()(x)
        crowded(torch.from_numpy(many_coords[:20]))
    assert calls.call_count == 0


def test_fused_blend_refuses_rows_outside_the_bank(tiny_config: EncoderConfig) -> None:
    from earth4d_gis.encoder import native
    from earth4d_gis.neighbours import fused_blend

    bank, coords, _ = _bank(n=300, k=8)
    model = _randomised_blend(Earth4DModel(tiny_config, hidden=(16,), bank=bank))
    x = torch.from_numpy(coords[:10])
    idx, dist = bank.query(x)
    idx[3, 2] = len(bank)
    assert model.blend is not None
    with torch.no_grad(), pytest.raises(RuntimeError, match="neighbour rows outside the bank of 300"):
        fused_blend(native.load("cpu"), bank, model.blend, x, model.field(x), idx, dist)


def test_kernel_constants_match_the_module() -> None:
    """The fused kernel repeats the module's sizes and clamps; they must not drift apart."""
    from earth4d_gis import neighbours
    from earth4d_gis.encoder import native

    src = native.source_dir()
    text = (src / "blend_kernels.h").read_text() + (src / "blend_cpu.cpp").read_text()

    def constant(name: str) -> float:
        match = re.search(rf"constexpr (?:int|float) {name} = ([0-9.e+-]+)f?;", text)
        assert match is not None, f"{name} not found in the kernel sources"
        return float(match.group(1))

    assert constant("kBlendWidth") == neighbours.FUSED_WIDTH == NeighbourBlend().width
    assert constant("kBlendMaxNeighbours") == neighbours.FUSED_MAX_NEIGHBOURS
    assert constant("kBlendPairFeatures") == neighbours.PAIR_FEATURES
    assert constant("kBlendGateFeatures") == neighbours.GATE_FEATURES
    assert constant("kBlendDim") == 64
    assert constant("kMinDistance") == neighbours._MIN_DISTANCE_M
    assert constant("kMinTaper") == neighbours._MIN_TAPER
    assert constant("kEmbeddingScale") == neighbours.EMBEDDING_SCALE
