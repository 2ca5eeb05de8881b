"""The self-describing model file (``final_model.pt``) and safe loading of ``.pt`` files.

A model file is a plain dict of tensors and JSON-able values, so it loads with
``torch.load(weights_only=True)``: a file that would need to run code to load is refused.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ._version import __version__
from .elevation_prior import ElevationPrior
from .errors import ModelFileError, first_line
from .files import atomic_output, check_output_folder
from .geodesy import TimeSpan
from .model import Earth4DModel
from .projection import RGBProjection

MODEL_FORMAT = "earth4d-gis-model"
MODEL_FORMAT_VERSION = 2


def safe_torch_load(path: str | os.PathLike[str], what: str = "file") -> Any:
    """``torch.load(weights_only=True)`` on CPU; one-sentence errors for missing, unsafe or broken files.

    torch's own messages are not passed on: they advise ``weights_only=False``, i.e. running the file.
    """
    p = Path(path)
    if not p.exists():
        raise ModelFileError(f"{what} {p} does not exist")
    if p.is_dir():
        raise ModelFileError(f"{what} {p} is a folder, not a file")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "unsupported global" in str(exc).lower():
            raise ModelFileError(
                f"refused to load {what} {p}: it is not a trusted earth4d-gis file (it holds Python objects "
                "that would run code when loaded), and it was not loaded"
            ) from None
        raise _unreadable(p, what) from None
    except Exception:  # noqa: BLE001 - torch's loader raises many types on arbitrary bytes
        raise _unreadable(p, what) from None


def _unreadable(path: Path, what: str) -> ModelFileError:
    return ModelFileError(
        f"{what} {path} is not a trusted earth4d-gis file (not a readable PyTorch file) and was not loaded"
    )


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Save to a temporary file beside ``path``, then rename: a crash never leaves half a file.

    A failed write (full disk, read-only folder) is a one-line ``WriteError`` naming ``path``.
    """
    target = Path(path)
    check_output_folder(target.parent)
    with atomic_output(target) as tmp:
        torch.save(obj, tmp)
    return target


def state_fingerprint(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 over the parameter names and bytes: identifies a trained model in raster tags."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(name.encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


@dataclass
class ModelBundle:
    """A trained model with everything needed to use it: time span, colours, elevation prior, provenance."""

    model: Earth4DModel
    time_span: TimeSpan = field(default_factory=TimeSpan)
    rgb_projection: RGBProjection | None = None
    elevation_prior: ElevationPrior = field(default_factory=ElevationPrior)
    metrics: dict[str, Any] = field(default_factory=dict)
    dataset_fingerprint: str = ""
    created: str = ""
    software_version: str = __version__
    fingerprint: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def model_payload(bundle: ModelBundle) -> dict[str, Any]:
    """The model file's content: a plain dict of tensors and JSON-able values (what ``torch.save`` writes,
    and what an ``Earth4D`` pickles to for worker processes). Sets ``bundle.fingerprint``."""
    if bundle.time_span != bundle.model.encoder_config.time_span:
        raise ValueError(
            f"the bundle's time span {bundle.time_span} differs from its encoder's "
            f"{bundle.model.encoder_config.time_span}"
        )
    state = {k: v.detach().cpu() for k, v in bundle.model.state_dict().items()}
    fingerprint = state_fingerprint(state)
    payload = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "software_version": __version__,
        "created": bundle.created or _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        **bundle.model.describe(),
        "time_span": bundle.time_span.to_dict(),
        "state_dict": state,
        "fingerprint": fingerprint,
        "rgb_projection": bundle.rgb_projection.to_dict() if bundle.rgb_projection else None,
        "elevation_prior": bundle.elevation_prior.to_dict(),
        "metrics": bundle.metrics,
        "dataset_fingerprint": bundle.dataset_fingerprint,
        "extra": bundle.extra,
    }
    bundle.fingerprint = fingerprint
    return payload


def save_model_file(bundle: ModelBundle, path: str | os.PathLike[str]) -> Path:
    """Write ``bundle`` as a self-describing model file (atomically); returns the path."""
    return atomic_torch_save(model_payload(bundle), path)


def check_weights(state_dict: dict[str, torch.Tensor], fingerprint: str, path: Any) -> None:
    """Refuse weights that differ from the stored fingerprint (damaged, edited) or are not finite."""
    if fingerprint and state_fingerprint(state_dict) != fingerprint:
        raise ModelFileError(
            f"{path} is a damaged earth4d-gis model file: its weights do not match the fingerprint stored "
            "with them (the file was changed after it was written)"
        )
    for name, tensor in state_dict.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).sum())
            raise ModelFileError(
                f"{path} holds {bad:,} non-finite weight(s) (NaN or inf) in {name}: its maps would be "
                "meaningless; train it again"
            )


def load_model_file(
    path: str | os.PathLike[str], device: str | torch.device = "cpu", backend: str | None = None
) -> ModelBundle:
    """Load a model file written by ``save_model_file``; ``ModelFileError`` for anything else."""
    return bundle_from_payload(safe_torch_load(path, what="model file"), path, device=device, backend=backend)


def bundle_from_payload(
    payload: Any, path: Any, device: str | torch.device = "cpu", backend: str | None = None
) -> ModelBundle:
    """A ``ModelBundle`` from ``model_payload``'s dict (``path`` names it in errors); ``ModelFileError`` if
    it is not one, or its weights do not match their fingerprint or are not finite."""
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{path} is not an earth4d-gis model file (no '{MODEL_FORMAT}' header)")
    version = payload.get("format_version")
    if version != MODEL_FORMAT_VERSION:
        raise ModelFileError(
            f"{path} is model format version {version}; this earth4d-gis reads version {MODEL_FORMAT_VERSION}"
        )
    try:
        model = Earth4DModel.from_description(payload, backend=backend)
        model.load_state_dict(payload["state_dict"])
        time_span = TimeSpan.from_dict(payload["time_span"])
        projection = payload.get("rgb_projection")
        prior = payload.get("elevation_prior")
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path} is a damaged earth4d-gis model file ({first_line(exc)})") from None
    check_weights(payload["state_dict"], payload.get("fingerprint", ""), path)
    model.to(device).eval()
    return ModelBundle(
        model=model,
        time_span=time_span,
        rgb_projection=RGBProjection.from_dict(projection) if projection else None,
        elevation_prior=ElevationPrior.from_dict(prior) if prior else ElevationPrior(),
        metrics=payload.get("metrics") or {},
        dataset_fingerprint=payload.get("dataset_fingerprint", ""),
        created=payload.get("created", ""),
        software_version=payload.get("software_version", ""),
        fingerprint=payload.get("fingerprint", ""),
        extra=payload.get("extra") or {},
    )
