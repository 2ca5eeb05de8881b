"""``earth4d-gis train`` from the command line: bad input gives one line and a non-zero exit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from earth4d_gis_cli.main import cli


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, ["train", *args], env=env)


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = [line for line in result.output.strip().splitlines() if line.startswith("Error")]
    assert len(lines) == 1, result.output
    for fragment in fragments:
        assert fragment in lines[0], result.output


def test_help_lists_the_original_options_and_defaults() -> None:
    result = CliRunner().invoke(cli, ["train", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for option, default in [
        ("--dataset", "alphaearth"),
        ("--epochs", "100"),
        ("--batch-size", "4000"),
        ("--learning-rate", "0.002"),
        ("--train-split", "0.95"),
        ("--device", "auto"),
        ("--seed", "42"),
        ("--output-dir", "earth4d_alphaearth_outputs"),
        ("--data-dir", "data/alphaearth"),
    ]:
        assert option in text
        assert f"default: {default}" in text, (option, default)
    for flag in (
        "--skip-nan-test",
        "--resume",
        "--max-samples",
        "--metadata",
        "--embeddings",
        "--preset",
        "--hidden",
    ):
        assert flag in text


def test_unreachable_download_suggests_the_demo(tmp_path: Path) -> None:
    result = run(
        "--data-dir", str(tmp_path / "data"), "--output-dir", str(tmp_path / "out"),
        env={"EARTH4D_ALPHAEARTH_URL": "http://127.0.0.1:9/alphaearth/"},
    )  # fmt: skip
    assert_one_line_error(result, "--dataset demo")
    assert not (tmp_path / "out").exists()


def test_missing_files_are_named(tmp_path: Path) -> None:
    result = run("--metadata", str(tmp_path / "meta.csv"), "--embeddings", str(tmp_path / "emb.pt"))
    assert_one_line_error(result, "meta.csv")


def test_metadata_without_embeddings_is_refused(tmp_path: Path) -> None:
    meta = tmp_path / "meta.csv"
    meta.write_text("latitude,longitude,elevation_m,event_date\n")
    assert_one_line_error(run("--metadata", str(meta)), "--embeddings")


def test_row_count_mismatch_is_reported(tmp_path: Path) -> None:
    meta, emb = tmp_path / "meta.csv", tmp_path / "emb.npy"
    pd.DataFrame(
        {
            "latitude": [37.0, 38.0],
            "longitude": [-122.0, -121.0],
            "elevation_m": [1.0, 2.0],
            "event_date": ["2020-01-01"] * 2,
        }
    ).to_csv(meta, index=False)
    np.save(emb, np.zeros((3, 64), dtype=np.float32))
    result = run("--metadata", str(meta), "--embeddings", str(emb), "--output-dir", str(tmp_path / "out"))
    assert_one_line_error(result)
    assert "2" in result.output and "3" in result.output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--train-split", "1.5"], "--train-split"),
        (["--epochs", "0"], "--epochs"),
        (["--max-samples", "0"], "--max-samples"),
        (["--hidden", "64,abc"], "--hidden"),
        (["--l1-weight", "-1"], "--l1-weight"),
        (["--resume"], "last.pt"),
    ],
)
def test_bad_options_are_one_line_errors(tmp_path: Path, args: list[str], fragment: str) -> None:
    result = run("--dataset", "demo", "--max-samples", "200", "--output-dir", str(tmp_path / "out"), *args)
    assert result.exit_code != 0
    assert fragment in result.output and "Traceback" not in result.output


def test_cuda_without_a_gpu_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = run(
        "--dataset", "demo", "--max-samples", "200", "--device", "cuda", "--output-dir", str(tmp_path)
    )
    assert_one_line_error(result, "--device cuda")


def test_every_training_option_is_a_config_field_with_its_default() -> None:
    """The train command's options and ``TrainConfig``'s fields stay one list: a new field gets an option
    (or is named here as Python-only), and an option's default is the field's."""
    import dataclasses

    from earth4d_gis.train import TrainConfig
    from earth4d_gis_cli.train import command

    python_only = {"amp", "encoder_spec", "eval_batch_size", "progress", "table_lr_scale"}
    renamed = {"test_min_distance_m": "test_min_distance", "make_video": "no_video"}
    data_options = {
        "data_dir", "dataset", "drop_invalid", "embeddings", "force_download", "max_samples", "metadata",
        "quantization",
    }  # fmt: skip
    options = {p.name: p for p in command.params}
    defaults = TrainConfig()
    for f in dataclasses.fields(TrainConfig):
        if f.name in python_only:
            continue
        name = renamed.get(f.name, f.name)
        assert name in options, f"TrainConfig.{f.name} has no option"
        value = getattr(defaults, f.name)
        if f.name in {"make_video", "time_limit", "backend", "hidden"} or isinstance(value, bool):
            continue  # flags and converted values (minutes, 'auto', a comma list)
        assert options[name].default == value, f"--{name} default {options[name].default!r} != {value!r}"
    fields = {renamed.get(f.name, f.name) for f in dataclasses.fields(TrainConfig)}
    assert set(options) - fields == data_options
