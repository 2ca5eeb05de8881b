"""``earth4d-gis train`` from the command line: bad input gives one line and a non-zero exit."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from earth4d_gis.errors import InputError
from earth4d_gis.train.config import TrainConfig
from earth4d_gis_cli.field_options import FieldOption, config_from_options, help_text, option_fields
from earth4d_gis_cli.main import cli
from earth4d_gis_cli.train import command


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


PYTHON_ONLY = {"encoder_spec", "progress"}
"""``TrainConfig`` fields without an option: a nested dict (the presets stand for it) and the progress bars
(the command always shows them)."""
DATA_OPTIONS = {
    "data_dir", "dataset", "drop_invalid", "embeddings", "force_download", "max_samples", "metadata",
    "quantization",
}  # fmt: skip
"""The command's options that choose the samples: they are not ``TrainConfig`` settings."""


def _options() -> dict[str, click.Option]:
    return {p.name: p for p in command.params if isinstance(p, click.Option)}


def test_every_field_has_an_option_and_every_option_a_field() -> None:
    options, fields = _options(), {f.name for f in dataclasses.fields(TrainConfig)}
    assert fields - set(options) == PYTHON_ONLY, "a new TrainConfig field needs an option (or option=False)"
    assert set(options) - fields == DATA_OPTIONS, "an option that is neither a setting nor a data option"
    assert {f.name for f in option_fields(TrainConfig)} == fields - PYTHON_ONLY
    assert all(isinstance(options[name], FieldOption) for name in fields - PYTHON_ONLY)


def _shown_default(field: dataclasses.Field, option: click.Option) -> str | None:
    """What --help should show as the default of ``field``'s option (None: nothing)."""
    value = field.default
    if isinstance(value, bool):
        return option.opts[0].removeprefix("--") if value else None
    if value is None:
        return field.metadata.get("none_word")
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if field.metadata.get("scale"):
        return f"{value / field.metadata['scale']}"
    return str(value)


def _normalised(text: str) -> str:
    """Help text with click's line wrapping undone (whitespace collapsed, no break after a hyphen)."""
    return re.sub(r"(?<=\w-) (?=\w)", "", " ".join(text.split()))


def test_help_shows_each_fields_help_and_default() -> None:
    result = CliRunner().invoke(cli, ["train", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = _normalised(result.output)
    assert "``" not in text, "a setting's help names a parameter the command has no option for"
    options = _options()
    for field in option_fields(TrainConfig):
        option = options[field.name]
        helped = help_text(field.metadata["help"], command)
        assert option.help == helped
        default = _shown_default(field, option)
        shown = helped if default is None else f"{helped} [default: {default}]"
        assert _normalised(shown) in text, (field.name, shown)
    for section in ("Data:", "Run:", "Split:", "Model:", "Optimisation:", "Outputs:"):
        assert section in result.output


def test_the_commands_defaults_build_the_default_config() -> None:
    ctx = command.make_context("train", [])
    assert config_from_options(command, TrainConfig, dict(ctx.params)) == TrainConfig()


def test_options_build_the_config_generically() -> None:
    args = [
        "--time-limit", "2", "--hidden", "64,32", "--no-video", "--test-min-distance", "500", "--backend",
        "cpu", "--no-amp", "--table-lr-scale", "10", "--seed", "7", "--output-dir", "runs/x", "--resume",
    ]  # fmt: skip
    params = dict(command.make_context("train", args).params)
    config = config_from_options(command, TrainConfig, params)
    assert (config.time_limit, config.hidden, config.make_video, config.test_min_distance_m) == (
        120.0, (64, 32), False, 500.0,
    )  # fmt: skip
    assert (config.backend, config.amp, config.table_lr_scale, config.seed, config.resume) == (
        "cpu", False, 10.0, 7, True,
    )  # fmt: skip
    assert config.output_dir == Path("runs/x")
    assert set(params) == DATA_OPTIONS, "the data options stay for the command"
    auto = config_from_options(command, TrainConfig, dict(command.make_context("train", ["--video"]).params))
    assert auto.backend is None and auto.make_video is True


@pytest.mark.parametrize(
    ("settings", "parameter_message", "args", "flag_message"),
    [
        ({"epochs": 0}, "epochs=0 must be at least 1", ["--epochs", "0"], "--epochs 0 must be at least 1"),
        (
            {"time_limit": -90.0},
            "time_limit=-90.0 must be positive",
            ["--time-limit", "-1.5"],
            "--time-limit -1.5 must be positive",
        ),
        ({"hidden": (64, 0)}, "hidden=(64, 0) needs positive", ["--hidden", "64,0"], "--hidden 64,0 needs"),
        (
            {"test_min_distance_m": -5.0},
            "test_min_distance_m=-5.0 must not be negative",
            ["--test-min-distance", "-5"],
            "--test-min-distance -5.0 must not be negative",
        ),
        (
            {"resume": True, "overwrite": True},
            "resume=True and overwrite=True cannot be combined",
            ["--resume", "--overwrite"],
            "--resume and --overwrite cannot be combined",
        ),
    ],
)
def test_errors_name_the_parameter_in_python_and_the_flag_on_the_command_line(
    tmp_path: Path, settings: dict, parameter_message: str, args: list[str], flag_message: str
) -> None:
    with pytest.raises(InputError) as raised:
        TrainConfig(**settings).validate()
    assert parameter_message in str(raised.value) and "--" not in str(raised.value)
    result = run("--dataset", "demo", "--output-dir", str(tmp_path / "out"), *args)
    assert_one_line_error(result, flag_message)
    assert "=" not in result.output.strip().splitlines()[-1]


def test_resume_without_a_checkpoint_names_the_parameter_or_the_flag(tmp_path: Path) -> None:
    from earth4d_gis.train.layout import OutputLayout

    with pytest.raises(InputError, match=r"^resume=True: there is no checkpoint .*without resume=True$"):
        OutputLayout(tmp_path / "run").prepare(resume=True, overwrite=False)
    result = run(
        "--dataset", "demo", "--max-samples", "200", "--output-dir", str(tmp_path / "run"), "--resume"
    )
    assert_one_line_error(result, "Error: --resume: there is no checkpoint", "start without --resume")
