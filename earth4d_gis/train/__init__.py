"""Training: the loop, metrics, kNN baselines, visualisations, video and distributed helpers.

Use ``train(TrainConfig(output_dir=...), samples, world=None)`` with a ``SampleSet`` (for example
``earth4d_gis.data.make_demo_dataset(50_000)``); it returns a ``TrainResult`` whose ``metrics`` hold the
test-set figures, the baselines and a plain verdict against the best kNN.
"""

from __future__ import annotations

from .config import TrainConfig
from .trainer import TrainResult, train
from .video import make_video

__all__ = ["TrainConfig", "TrainResult", "make_video", "train"]
