"""The training samples kept in the model, and the learned blend of a query's nearest samples.

A neural field learns the smooth part of the AlphaEarth field well, but a sample's own value (including
its pixel-scale detail) is worth more next to it than anything a compact network can memorise. So the
model stores its training samples compactly (float32 coordinates, int8 embeddings) and, for each query,
blends the field's prediction with its ``k`` nearest samples: attention weights start as inverse-distance
weights and learn from the distance, the differences in height and date, and how much each neighbour
resembles the field's own prediction (which neighbours share the query's land cover); a learned gate
decides how much the neighbours override the field (much next to samples, little far from them). The
weights taper to zero at the distance of the (k+1)-th nearest sample, so a sample entering or leaving a
point's neighbours changes nothing abruptly: maps have no seams where the set of neighbours changes.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pykdtree.kdtree import KDTree
from threadpoolctl import ThreadpoolController
from torch import nn

from .encoder.smooth import geography
from .errors import InputError
from .geodesy import ECEF_SCALE, TimeSpan

EMBEDDING_SCALE = 127.0
"""Stored embeddings are ``round(x * 127)`` as int8 (the original dataset's own quantisation)."""
PAIR_FEATURES = 7
GATE_FEATURES = 6
_MIN_DISTANCE_M = 1.0
_MIN_TAPER = 1e-6
_SECONDS_PER_YEAR = 365.25 * 86400.0
_SHARED_ROWS_GAIN = 4
"""Queries share their neighbours' rows when those are at most a quarter as many as the pairs: the dense
``[N, distinct]`` products then cost less than gathering ``[N, k, 64]`` copies (measured on a 10 m
raster, where 1,024 pixels of 32 neighbours have ~160 distinct rows: the blend took 26 % less time)."""


@functools.cache
def _openmp() -> ThreadpoolController:
    """The OpenMP runtimes loaded (pykdtree's among them), found once: a search's threads are set per
    call through it (13 us, where finding them takes 0.4 ms)."""
    return ThreadpoolController().select(user_api="openmp")


def _ecef_metres(coords: torch.Tensor | np.ndarray) -> np.ndarray:
    c = coords.detach().cpu().numpy() if isinstance(coords, torch.Tensor) else np.asarray(coords)
    return (c[:, :3].astype(np.float64) * 2.0 - 1.0) * ECEF_SCALE


def rows(table: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``table[idx]`` for an index tensor of any shape, through ``index_select`` (on the CPU several
    times faster than advanced indexing with a 2-D index)."""
    return table.index_select(0, idx.reshape(-1)).view(*idx.shape, *table.shape[1:])


class SampleBank(nn.Module):
    """Training samples as buffers (saved in the model file) and a k-d tree over them (built on demand).

    The tree is pykdtree's: the same neighbours as scipy's ``cKDTree`` in about two thirds of the time
    (33 neighbours of a tile's points: 2.5 against 3.6 us a point on one thread), where the search was a
    third of a prediction's time.
    """

    def __init__(self, size: int, k: int, time_span: TimeSpan) -> None:
        super().__init__()
        if k < 1:
            raise InputError(f"neighbours k = {k} must be at least 1")
        self.k = int(k)
        self.time_span = time_span
        self.register_buffer("coords", torch.zeros(size, 4, dtype=torch.float32))
        self.register_buffer("codes", torch.zeros(size, 64, dtype=torch.int8))
        self._tree: KDTree | None = None
        self._heights: torch.Tensor | None = None
        self._norms: torch.Tensor | None = None
        self._times: torch.Tensor | None = None
        self._tree_lock = threading.Lock()

    @classmethod
    def from_samples(
        cls, coords: np.ndarray, embeddings: np.ndarray, k: int, time_span: TimeSpan
    ) -> SampleBank:
        """A bank of these samples: float64 encoder coordinates ``[N, 4]``, float ``[N, 64]`` embeddings."""
        bank = cls(coords.shape[0], k, time_span)
        bank.coords.copy_(torch.from_numpy(np.asarray(coords, dtype=np.float32)))
        codes = np.clip(np.rint(np.asarray(embeddings, dtype=np.float32) * EMBEDDING_SCALE), -127, 127)
        bank.codes.copy_(torch.from_numpy(codes.astype(np.int8)))
        return bank

    def __len__(self) -> int:
        return int(self.coords.shape[0])

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_tree"] = None
        state["_heights"] = None
        state["_norms"] = None
        state["_times"] = None
        state["_tree_lock"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._tree_lock = threading.Lock()

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        self._tree, self._heights, self._norms, self._times = None, None, None, None
        super()._load_from_state_dict(*args, **kwargs)

    @property
    def tree(self) -> KDTree:
        with self._tree_lock:
            if self._tree is None:
                self._tree = KDTree(_ecef_metres(self.coords))
            return self._tree

    def heights(self) -> torch.Tensor:
        """Each sample's height above the ellipsoid (metres, float32), computed once."""
        if self._heights is None or self._heights.device != self.coords.device:
            self._heights = geography(self.coords)[1].float()
        return self._heights

    def norms(self) -> torch.Tensor:
        """Each stored code row's length (float32, in code units), computed once: the blend's cosines
        need them."""
        if self._norms is None or self._norms.device != self.codes.device:
            self._norms = torch.linalg.vector_norm(self.codes.float(), dim=1)
        return self._norms

    @property
    def span_years(self) -> float:
        """The model's time span in years: time-coordinate differences times this are years apart."""
        return self.time_span.seconds / _SECONDS_PER_YEAR

    def times(self) -> torch.Tensor:
        """Each sample's time coordinate (float32, contiguous), taken once: the fused blend reads them."""
        if self._times is None or self._times.device != self.coords.device:
            self._times = self.coords[:, 3].contiguous()
        return self._times

    def query(
        self, coords: torch.Tensor | np.ndarray, exclude: np.ndarray | None = None, workers: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``k + 1`` nearest samples of each query: (indices int64 ``[N, k + 1]``, distances float32 m).

        The last one only sets where the blend's weights taper to zero. The search runs on ``workers``
        threads, by default as many as torch uses: where a caller spreads predictions over its own threads
        with one torch thread each (the tile server, rasterize's worker processes), each search stays on its
        thread too instead of starting threads that compete for the same cores.

        ``exclude`` (one bank row per query, e.g. the query's own row) leaves that row out: leave-one-out
        neighbours for training, so the blend learns what a place without its own sample looks like.
        """
        wanted = min(self.k + 1, len(self) - (exclude is not None))
        k = wanted + (exclude is not None)
        threads = torch.get_num_threads() if workers is None else workers
        if threads < 1:
            raise InputError(f"neighbour search threads {threads} must be at least 1")
        tree = self.tree
        # pykdtree searches on OpenMP threads; the limit holds for this calling thread only.
        with _openmp().limit(limits=threads):
            dist, idx = tree.query(_ecef_metres(coords), k=k)
        dist, idx = dist.reshape(len(dist), k), idx.reshape(len(idx), k)
        if exclude is not None:
            keep = idx != np.asarray(exclude)[:, None]
            # Where the query's own row is not among them, drop the farthest instead.
            keep[:, -1] &= ~keep.all(axis=1)
            order = np.argsort(~keep, axis=1, kind="stable")[:, :wanted]
            idx, dist = np.take_along_axis(idx, order, 1), np.take_along_axis(dist, order, 1)
        return torch.from_numpy(idx.astype(np.int64)), torch.from_numpy(dist.astype(np.float32))

    def code_rows(self, idx: torch.Tensor) -> torch.Tensor:
        """The stored codes of these rows as float32 ``[..., 64]``: the embeddings times ``EMBEDDING_SCALE``.

        The blend divides only its ``[N, 64]`` result by the scale (cosines do not depend on it), not every
        neighbour's row: on a training batch that division was ~5 % of a step."""
        return rows(self.codes, idx).float()

    def neighbour_rows(self, idx: torch.Tensor) -> GatheredRows | SharedRows:
        """The embeddings of each query's neighbours ``idx [N, k]`` in the form that is cheaper to use.

        Nearby queries (a raster window, a tile) share most neighbours: their distinct rows are kept once
        (``SharedRows``) and the blend's sums become small matrix products, instead of a copy of every
        neighbour of every query. Scattered queries get the copies (``GatheredRows``), and so does every
        batch computed with gradients, without looking: training batches are drawn at random.
        """
        if not torch.is_grad_enabled():
            distinct, inverse = torch.unique(idx, return_inverse=True)
            if distinct.numel() * _SHARED_ROWS_GAIN <= idx.numel():
                return SharedRows(self.code_rows(distinct), self.norms().index_select(0, distinct), inverse)
        return GatheredRows(self.code_rows(idx), rows(self.norms(), idx))

    def pair_features(self, coords: torch.Tensor, idx: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        """Per query and neighbour: log distance, height difference (signed and absolute, km), years apart."""
        _, height, _ = geography(coords)
        dz = (height[:, None].float() - rows(self.heights(), idx)) / 1000.0
        years = self.span_years
        dt = (coords[:, 3:4].float() - rows(self.coords[:, 3], idx)).abs() * years
        log_d = torch.log(torch.clamp(dist, min=_MIN_DISTANCE_M))
        return torch.stack([log_d / 10.0, dz, dz.abs(), dt, dt.clamp(max=1.0)], dim=-1)


class GatheredRows:
    """Each query's neighbours as rows of their own: codes ``[N, k, 64]`` (embeddings times
    ``EMBEDDING_SCALE``), their lengths ``[N, k]``."""

    def __init__(self, codes: torch.Tensor, norms: torch.Tensor) -> None:
        self.codes, self.norms = codes, norms

    def cosines(self, unit: torch.Tensor) -> torch.Tensor:
        """Cosine of every neighbour with each query's unit vector ``[N, 64]``: ``[N, k]``."""
        return torch.einsum("nd,nkd->nk", unit, self.codes) / self.norms.clamp_min(1e-6)

    def mix(self, weights: torch.Tensor) -> torch.Tensor:
        """The neighbours' embeddings summed with ``weights [N, k]``: ``[N, 64]``."""
        return torch.einsum("nk,nkd->nd", weights, self.codes) / EMBEDDING_SCALE


class SharedRows:
    """The distinct neighbour rows of a batch of queries ``[U, 64]`` (codes as in ``GatheredRows``, and
    lengths ``[U]``), and where each query's neighbours lie among them (``inverse [N, k]``)."""

    def __init__(self, codes: torch.Tensor, norms: torch.Tensor, inverse: torch.Tensor) -> None:
        self.codes, self.norms, self.inverse = codes, norms, inverse

    def cosines(self, unit: torch.Tensor) -> torch.Tensor:
        every = unit @ (self.codes / self.norms.clamp_min(1e-6)[:, None]).T
        return torch.gather(every, 1, self.inverse)

    def mix(self, weights: torch.Tensor) -> torch.Tensor:
        # A query's neighbours are distinct rows, so scattering its weights never adds two together.
        dense = weights.new_zeros(weights.shape[0], self.codes.shape[0])
        return dense.scatter(1, self.inverse, weights) @ self.codes / EMBEDDING_SCALE


FUSED_WIDTH = 32
"""The hidden width of the blend's MLPs that the native kernel is compiled for (``csrc/blend_kernels.h``)."""
FUSED_MAX_NEIGHBOURS = 256
"""The most neighbours per query (k + 1) the native kernel takes."""


def can_fuse(bank: SampleBank, blend: NeighbourBlend) -> bool:
    """Whether the native kernel computes this blend: ReLU, the compiled width, at most 255 neighbours."""
    return blend.activation == "relu" and blend.width == FUSED_WIDTH and bank.k + 1 <= FUSED_MAX_NEIGHBOURS


def fused_blend(
    kernels: Any,
    bank: SampleBank,
    blend: NeighbourBlend,
    coords: torch.Tensor,
    field: torch.Tensor,
    idx: torch.Tensor,
    dist: torch.Tensor,
) -> torch.Tensor:
    """``blend`` of ``field`` with the bank's neighbours ``idx``/``dist``, in one pass of the native
    kernel (``csrc/blend_cpu.cpp``): the module's numbers (to float rounding), at inference on the CPU.

    The module builds a dozen ``[N, k, width]`` tensors per chunk and spends most of its time moving them
    through memory; the kernel keeps each query's neighbours in registers. ``kernels`` is the loaded CPU
    extension (``encoder.native.load("cpu")``); ``can_fuse(bank, blend)`` must hold.
    """
    _, height, _ = geography(coords)
    attention, gate = (
        [p.detach() for layer in mlp if isinstance(layer, nn.Linear) for p in (layer.weight, layer.bias)]
        for mlp in (blend.attention, blend.gate)
    )
    return kernels.blend(
        field.contiguous(),
        idx.contiguous(),
        dist.contiguous(),
        height.float(),
        coords[:, 3].float().contiguous(),
        bank.codes,
        bank.norms(),
        bank.heights(),
        bank.times(),
        bank.span_years,
        attention,
        gate,
    )


ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU}
"""The blend's MLP activations by name. ReLU is the default: on every benchmark world it scored as well as
GELU or better, and it costs a fifth as much (its attention runs over 33 pairs per point); model files
written before it (which name none) used GELU."""


class NeighbourBlend(nn.Module):
    """Blend the field's prediction with the neighbours' embeddings (see the module docstring)."""

    def __init__(self, width: int = 32, activation: str = "relu") -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise InputError(f"blend activation {activation!r} is not one of {', '.join(ACTIVATIONS)}")
        self.width = int(width)
        self.activation = activation
        act = ACTIVATIONS[activation]
        self.attention = nn.Sequential(
            nn.Linear(PAIR_FEATURES, width),
            act(),
            nn.Linear(width, width),
            act(),
            nn.Linear(width, 1),
        )
        self.gate = nn.Sequential(nn.Linear(GATE_FEATURES, width), act(), nn.Linear(width, 1))
        with torch.no_grad():
            # Start from inverse-distance weighting, trusting the neighbours (sigmoid(2) = 0.88).
            self.attention[-1].weight.zero_()
            self.attention[-1].bias.zero_()
            self.gate[-1].bias.fill_(2.0)

    def forward(
        self, field: torch.Tensor, neighbours: GatheredRows | SharedRows, pairs: torch.Tensor
    ) -> torch.Tensor:
        """field ``[N, 64]``, each query's ``k`` neighbours' embeddings, pair features ``[N, k, 5]``
        -> ``[N, 64]``."""
        similar = neighbours.cosines(F.normalize(field, dim=1))
        log_d = pairs[..., 0]
        x = torch.cat([pairs, similar[..., None], (similar * log_d)[..., None]], dim=-1)
        # Inverse distance, tapered to zero at the last (the (k+1)-th) neighbour's distance: 1 - r^8
        # leaves the nearer neighbours almost untouched (r = 0.7: 0.94) and reaches 0 at r = 1.
        ratio = torch.exp(80.0 * (log_d - log_d[:, -1:]))
        taper = torch.log(torch.clamp(1.0 - ratio, min=_MIN_TAPER))
        logits = self.attention(x).squeeze(-1) - 10.0 * log_d + taper
        weights = torch.softmax(logits, dim=1)
        blended = neighbours.mix(weights)
        summary = torch.cat(
            [
                log_d[:, :1],
                (weights * log_d).sum(1, keepdim=True),
                (weights * similar).sum(1, keepdim=True),
                (weights * pairs[..., 2]).sum(1, keepdim=True),
                (weights * pairs[..., 3]).sum(1, keepdim=True),
                torch.logsumexp(logits, 1, keepdim=True) / 10.0,
            ],
            dim=1,
        )
        gate = torch.sigmoid(self.gate(summary))
        return field + gate * (blended - field)
