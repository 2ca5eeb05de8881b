"""Point prediction: ``load_model(path)`` -> ``Earth4D`` with ``predict`` / ``predict_rgb`` / ``embed``.

    model = load_model("final_model.pt")
    emb = model.predict(lat, lon, time="2024-06-01")           # float32 [N, 64], unit length

Predictions are unit-length vectors, like AlphaEarth's (so a dot product is a cosine similarity). This
module sits below ``raster``: rasters, analyses and the tile server take an ``Earth4D``; grids in memory
(``predict_grid``) are added by ``earth4d_gis.api.Model``, what ``earth4d_gis.load_model`` returns.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch

from .checkpoint import ModelBundle, bundle_from_payload, load_model_file, model_payload, state_fingerprint
from .conventions import band_names
from .elevation_prior import ElevationPrior
from .encoder.backends import device_for_backend
from .errors import Earth4DError, InputError, ModelFileError, first_line
from .geodesy import TimeSpan, normalized_coordinates, validate_coordinates
from .projection import RGBProjection

logger = logging.getLogger(__name__)

CPU_BATCH_SIZE = 4096
"""Points per forward pass on a CPU: large enough to amortise overhead, small enough that the decoder's
activations stay in cache (2048..8192 measured fastest on a 2-core CPU, 65536 ~2x slower)."""
GPU_BATCH_SIZE = 1 << 18


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def unit_rows(values: np.ndarray) -> np.ndarray:
    """Scale each row to unit length (rows of zeros stay zero), in place; returns it."""
    norm = np.sqrt(np.einsum("ij,ij->i", values, values))
    values /= np.maximum(norm, np.float32(1e-12))[:, None]
    return values


class Earth4D:
    """A trained Earth4D model ready to predict AlphaEarth embeddings anywhere, any date in its span."""

    def __init__(self, bundle: ModelBundle, path: str | os.PathLike[str] | None = None) -> None:
        self.bundle = bundle
        self.path = Path(path) if path is not None else None
        self.model = bundle.model.eval()
        self.fingerprint = bundle.fingerprint or state_fingerprint(self.model.state_dict())

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        device: str | torch.device | None = None,
        backend: str | None = None,
    ) -> Self:
        """Load a model file written by ``earth4d-gis train``; ``ModelFileError`` if it is not one.

        ``device`` defaults to CUDA when torch sees a GPU, else the CPU; ``backend`` forces a backend.
        """
        try:
            bundle = load_model_file(path, device=device or default_device(), backend=backend)
        except Earth4DError:
            raise
        except Exception as exc:  # noqa: BLE001 - torch's unpickler raises many types on a damaged file
            raise ModelFileError(
                f"model file {path} is not a readable earth4d-gis model ({first_line(exc)})"
            ) from None
        logger.debug("loaded %s (fingerprint %s)", path, bundle.fingerprint[:12])
        return cls(bundle, path)

    # ---- what the model knows
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def time_span(self) -> TimeSpan:
        return self.bundle.time_span

    @property
    def rgb_projection(self) -> RGBProjection | None:
        return self.bundle.rgb_projection

    @property
    def elevation_prior(self) -> ElevationPrior:
        return self.bundle.elevation_prior

    @property
    def metrics(self) -> dict[str, Any]:
        return self.bundle.metrics

    @property
    def dataset_fingerprint(self) -> str:
        """The training data's fingerprint ("" when unknown), recorded in every raster's tags."""
        return self.bundle.dataset_fingerprint or ""

    @property
    def bands(self) -> tuple[str, ...]:
        return band_names(self.model.output_dim)

    def __repr__(self) -> str:
        where = self.path or "in memory"
        span = f"{self.time_span.start}..{self.time_span.end}"
        return f"Earth4D({where}, fingerprint {self.fingerprint[:12]}, {span})"

    # ---- pickling (dask and worker processes): the model travels as the bytes of its model file
    def __getstate__(self) -> dict[str, Any]:
        # Bytes, not tensors: multiprocessing's pickler would hand tensors over as shared-memory file
        # descriptors, which spawned workers and dask cannot take.
        buffer = io.BytesIO()
        torch.save(model_payload(self.bundle), buffer)
        backend = getattr(self.model.encoder, "requested_backend", None)
        return {"payload": buffer.getvalue(), "path": self.path, "backend": backend}

    def __setstate__(self, state: dict[str, Any]) -> None:
        payload = torch.load(io.BytesIO(state["payload"]), map_location="cpu", weights_only=True)
        device = device_for_backend(state["backend"], default_device())
        where = state["path"] or "pickled model"
        bundle = bundle_from_payload(payload, where, device=device, backend=state["backend"])
        self.__init__(bundle, state["path"])  # type: ignore[misc]

    # ---- prediction
    def embed(self, coords: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Encoder coordinates float64 ``[N, 4]`` -> unit-length float32 ``[N, 64]`` (batched, no grad)."""
        n = coords.shape[0]
        out = np.empty((n, self.model.output_dim), dtype=np.float32)
        source = torch.from_numpy(np.ascontiguousarray(coords, dtype=np.float64))
        device = self.device
        batch_size = batch_size or (CPU_BATCH_SIZE if device.type == "cpu" else GPU_BATCH_SIZE)
        with torch.inference_mode():
            for start in range(0, n, batch_size):
                chunk = source[start : start + batch_size].to(device)
                out[start : start + chunk.shape[0]] = self.model(chunk).float().cpu().numpy()
        return unit_rows(out)

    def predict(
        self,
        lat: Any,
        lon: Any,
        elevation: Any = None,
        time: Any = None,
        *,
        batch_size: int | None = None,
    ) -> np.ndarray:
        """The embedding at each point: float32 ``[N, 64]``, unit length.

        ``lat``/``lon`` in degrees (WGS84); ``elevation`` in metres (one value or one per point; None ->
        the model's elevation prior); ``time`` one instant or one per point (YYYY, YYYY-MM-DD, ISO datetime,
        datetime, datetime64, or a fractional year).
        """
        if time is None:
            raise InputError("predict needs a time: a date such as 2024-06-01, or one per point")
        lat_a, lon_a, elev = validate_coordinates(lat, lon, 0.0 if elevation is None else elevation)
        if elevation is None:
            elev = self.elevation_prior.lookup(lat_a, lon_a)
        coords = normalized_coordinates(lat_a, lon_a, elev, time, self.time_span)
        return self.embed(coords, batch_size=batch_size)

    def predict_rgb(self, lat: Any, lon: Any, elevation: Any = None, time: Any = None) -> np.ndarray:
        """The model's RGB colour at each point: uint8 ``[N, 3]``."""
        if self.rgb_projection is None:
            raise InputError("this model has no RGB projection")
        return self.rgb_projection.to_rgb(self.predict(lat, lon, elevation, time))


def load_model(
    path: str | os.PathLike[str], device: str | torch.device | None = None, backend: str | None = None
) -> Earth4D:
    """``Earth4D.load``: a model file written by ``earth4d-gis train``, ready to predict at points."""
    return Earth4D.load(path, device=device, backend=backend)


def as_model(model: Earth4D | str | os.PathLike[str], device: str | None = None) -> Earth4D:
    """An ``Earth4D`` as is, or one loaded from a model-file path."""
    if isinstance(model, Earth4D):
        return model
    if isinstance(model, (str, os.PathLike)):
        return load_model(model, device=device)
    raise InputError(f"model must be an Earth4D or a model-file path, not {type(model).__name__}")
