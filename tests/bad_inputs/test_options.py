"""One bad value for every option of every command that takes a value, and the cases the issue named.

Each case replaces one option's value in an otherwise good command line; the run must fail with one
line naming the bad value, no traceback, a JSON ``error`` event under ``--progress json`` (commands
that have it), nothing new in the output folder and every file there byte-identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import click
import pytest
from bad_inputs.battery import BBOX, Inputs, error_line, invoke, json_error, snapshot

from earth4d_gis_cli.main import COMMANDS, cli

RASTER_BASE = [
    "--model", "{model}", "--bbox", *BBOX, "--date", "2023-06-01", "--width", "8", "--height", "8",
    "--out", "{work}/out.tif",
]  # fmt: skip
BASES: dict[str, list[str]] = {
    "rasterize": RASTER_BASE,
    "similarity": [*RASTER_BASE, "--point", "48.135", "11.577"],
    "sample": ["--model", "{model}", "--points", "{points}", "--date", "2023", "--out", "{work}/out.gpkg"],
    "train": [
        "--dataset",
        "demo",
        "--max-samples",
        "300",
        "--epochs",
        "1",
        "--output-dir",
        "{work}/run",
        "--no-video",
        "--visualize-every",
        "0",
        "--prediction-samples",
        "10",
    ],  # fmt: skip
    "video": ["--input-dir", "{frames}", "--output", "{work}/out.mp4"],
    "encoder-info": [],
    "info": [],
    "classify": [*RASTER_BASE, "--labels", "{labels}", "--label-column", "crop"],
    "regress": [*RASTER_BASE, "--labels", "{labels}", "--label-column", "height"],
    "cluster": [*RASTER_BASE, "--k", "2"],
    "change": [*RASTER_BASE, "--date", "2020-06-01", "--date", "2023-06-01"],
    "zonal": [*RASTER_BASE[:-1], "{work}/out.gpkg", "--zones", "{aoi}"],
    "serve": ["--model", "{model}", "--port", "0"],
}


@dataclass(frozen=True)
class Case:
    """``option`` gets ``values`` (replacing the base's); ``named`` must appear in the error line."""

    command: str
    option: str
    values: tuple[str, ...]
    named: str
    extra: tuple[str, ...] = field(default=())
    id: str = ""

    @property
    def label(self) -> str:
        return f"{self.command} {self.option} {' '.join(self.values)}" + (f" [{self.id}]" if self.id else "")


def _raster_cases(command: str) -> list[Case]:
    c = command
    return [
        Case(c, "--model", ("{random_model}",), "random.pt"),
        Case(c, "--bbox", ("11.57", "48.13", "11.58", "95"), "95"),
        Case(c, "--bbox-crs", ("EPSG:999999",), "EPSG:999999"),
        Case(c, "--aoi", ("{far_aoi}",), "far_aoi.gpkg", id="misses the bbox"),
        Case(c, "--crs", ("not-a-crs",), "not-a-crs"),
        Case(c, "--resolution", ("-5",), "-5", extra=("--width", "", "--height", "")),
        Case(c, "--width", ("0",), "0"),
        Case(c, "--height", ("-3",), "-3"),
        Case(c, "--date", ("2023-13-45",), "2023-13-45"),
        Case(c, "--date", ("1650-06-01",), "1650-06-01", id="outside the time span"),
        Case(c, "--dem", ("{far_dem}",), "far_dem.tif", id="covers none of the area"),
        Case(c, "--dem", ("{truncated_dem}",), "truncated_dem.tif", id="truncated"),
        Case(c, "--elevation", ("1e9",), "1000000000"),
        Case(c, "--out", ("{work}/existing.tif",), "existing.tif", id="exists"),
        Case(c, "--out", ("{work}/missing/out.tif",), "missing", id="no such folder"),
        Case(c, "--out", ("{work}/existing.tif/out.tif",), "existing.tif", id="under a file"),
        Case(c, "--max-pixels", ("10",), "10"),
        Case(c, "--workers", ("0",), "0"),
        Case(c, "--scheduler", ("not an address",), "not an address"),
        Case(c, "--progress", ("loud",), "loud"),
    ]


# Dropped from a base when a case gives --input instead of the model.
NO_MODEL = ("--model", "", "--date", "", "--bbox", "", "--width", "", "--height", "")


def _source_cases(command: str) -> list[Case]:
    """The raster cases, and ``--input`` (an embedding GeoTIFF instead of the model), for the analyses."""
    c = command
    cases = [*_raster_cases(c), Case(c, "--input", ("{junk}",), "junk.txt", extra=NO_MODEL)]
    if c == "change":  # two dates: the bad one and a good one
        cases = [replace(k, extra=("--date", "2023-06-01")) if k.option == "--date" else k for k in cases]
    return cases


def _fit_cases(command: str, what: str) -> list[Case]:
    c = command
    return [
        Case(c, "--labels", ("{work}/nowhere.gpkg",), "nowhere.gpkg"),
        Case(c, "--label-column", ("no_such_column",), "no_such_column"),
        Case(c, "--method", ("svm",), "svm"),
        Case(c, "--folds", ("1",), "1"),
        Case(c, "--test-share", ("1.5",), "1.5"),
        Case(c, f"--{what}", ("{junk}",), "junk.txt", extra=("--labels", "", "--label-column", "")),
        Case(c, f"--save-{what}", ("{work}/existing.tif",), "existing.tif"),
        Case(c, "--report", ("{work}/existing.tif",), "existing.tif"),
    ]


# Malformed and malicious files given to the options that read files.
FILE_CASES: list[Case] = [
    Case("rasterize", "--model", ("{edited_model}",), "edited_model.pt", id="weights changed"),
    Case("rasterize", "--model", ("{nan_model}",), "nan_model.pt", id="NaN weights"),
    Case("rasterize", "--model", ("{evil_embeddings}",), "evil.pt", id="pickle that runs code"),
    Case("rasterize", "--model", ("{frames}",), "frames", id="a folder"),
    Case("rasterize", "--aoi", ("{junk}",), "junk.txt", id="not a vector file"),
    Case("rasterize", "--aoi", ("{points}",), "points.gpkg", id="no polygons"),
    Case("rasterize", "--dem", ("{junk}",), "junk.txt", id="not a raster"),
    Case("sample", "--points", ("{aoi}",), "Polygon", id="polygons"),
    Case("sample", "--points", ("{no_latlon}",), "no_latlon.csv", id="no lat/lon"),
    Case("sample", "--points", ("{junk}",), "junk.txt", id="not a vector file"),
    Case("sample", "--model", ("{random_model}",), "random.pt", id="random bytes"),
    Case(
        "train", "--metadata", ("{bad_columns}",), "bad_columns.csv", extra=("--embeddings", "{embeddings}")
    ),
    Case("train", "--embeddings", ("{wrong_shape}",), "wrong_shape.npy", extra=("--metadata", "{metadata}")),
    Case("train", "--embeddings", ("{int8_codes}",), "int8_codes.npy", extra=("--metadata", "{metadata}")),
    Case("train", "--embeddings", ("{junk}",), "junk.txt", extra=("--metadata", "{metadata}")),
    Case("video", "--input-dir", ("{corrupt_frames}",), "bay_area_epoch_1_rgb.png", id="corrupt frame"),
]

CASES: list[Case] = [
    *FILE_CASES,
    *_raster_cases("rasterize"),
    Case("rasterize", "--output", ("cmyk",), "cmyk"),
    Case("rasterize", "--refine-tolerance", ("1",), "1", id="tolerance 1"),
    Case("rasterize", "--refine-tolerance", ("-0.5",), "-0.5", id="negative tolerance"),
    Case("rasterize", "--refine-tolerance", ("nan",), "nan", id="NaN tolerance"),
    *_raster_cases("similarity"),
    Case("similarity", "--point", ("37.77", "500"), "500", id="longitude"),
    Case("similarity", "--point", ("95", "11.5"), "95", id="latitude"),
    Case("sample", "--model", ("{nan_model}",), "nan_model.pt", id="NaN weights"),
    Case("sample", "--model", ("{edited_model}",), "edited_model.pt", id="fingerprint"),
    Case("sample", "--points", ("{work}/nowhere.gpkg",), "nowhere.gpkg"),
    Case("sample", "--layer", ("no_such_layer",), "no_such_layer"),
    Case("sample", "--date", ("1650-06-01",), "1650-06-01"),
    Case("sample", "--date-column", ("no_such_column",), "no_such_column", extra=("--date", "")),
    Case("sample", "--dem", ("{far_dem}",), "far_dem.tif"),
    Case("sample", "--elevation", ("nan",), "nan"),
    Case("sample", "--out", ("{work}/out.txt",), "out.txt"),
    Case("sample", "--out", ("{work}/existing.tif",), "existing.tif", id="exists"),
    Case("train", "--dataset", ("imagenet",), "imagenet"),
    Case("train", "--data-dir", ("{work}/existing.tif",), "existing.tif", extra=("--dataset", "alphaearth")),
    Case(
        "train", "--metadata", ("{work}/nowhere.csv",), "nowhere.csv", extra=("--embeddings", "{embeddings}")
    ),
    Case("train", "--embeddings", ("{evil_embeddings}",), "evil.pt", extra=("--metadata", "{metadata}")),
    Case("train", "--quantization", ("mp3",), "mp3"),
    Case("train", "--epochs", ("0",), "0"),
    Case("train", "--batch-size", ("0",), "0"),
    Case("train", "--learning-rate", ("-1",), "-1"),
    Case("train", "--train-split", ("1.5",), "1.5"),
    Case("train", "--validation-fraction", ("0",), "0"),
    Case("train", "--max-samples", ("0",), "0"),
    Case("train", "--device", ("tpu",), "tpu"),
    Case("train", "--seed", ("-1",), "-1"),
    Case("train", "--output-dir", ("{work}/existing.tif/run",), "existing.tif"),
    Case("train", "--preset", ("huge",), "huge"),
    Case("train", "--hidden", ("12,abc",), "12,abc"),
    Case("train", "--dropout", ("1.5",), "1.5"),
    Case("train", "--test-min-distance", ("-5",), "-5"),
    Case("train", "--neighbours", ("-1",), "-1"),
    Case("train", "--blend-fraction", ("1",), "1"),
    Case("train", "--warmup-steps", ("-1",), "-1"),
    Case("train", "--weight-decay", ("-1",), "-1"),
    Case("train", "--cosine-weight", ("inf",), "inf"),
    Case("train", "--l1-weight", ("-1",), "-1"),
    Case("train", "--patience", ("-1",), "-1"),
    Case("train", "--time-limit", ("-1",), "-1 ", id="minutes, not seconds"),
    Case("train", "--checkpoint-every", ("0",), "0"),
    Case("train", "--prediction-samples", ("-1",), "-1"),
    Case("train", "--visualize-every", ("-1",), "-1"),
    Case("train", "--backend", ("gpu",), "gpu"),
    Case("train", "--table-optimizer", ("sgd",), "sgd"),
    Case("train", "--table-lr-scale", ("0",), "0"),
    Case("train", "--eval-batch-size", ("0",), "0"),
    Case("video", "--input-dir", ("{work}/nowhere",), "nowhere"),
    Case("video", "--output", ("{work}/out.txt",), "out.txt"),
    Case("video", "--output", ("{work}/existing.tif",), "existing.tif", id="exists"),
    Case("video", "--fps", ("0",), "0"),
    Case("video", "--pattern", ("nothing_*.png",), "nothing_*.png"),
    Case("encoder-info", "--preset", ("huge",), "huge"),
    Case("similarity", "--seeds", ("{junk}",), "junk.txt"),
    Case("similarity", "--reduce", ("median",), "median"),
    Case("similarity", "--threshold", ("nan",), "nan"),
    Case("similarity", "--mask", ("{work}/existing.tif",), "existing.tif", extra=("--threshold", "0.5")),
    Case("similarity", "--input", ("{junk}",), "junk.txt", extra=NO_MODEL),
    *_source_cases("classify"),
    *_fit_cases("classify", "classifier"),
    Case("classify", "--confidence", ("{work}/existing.tif",), "existing.tif"),
    *_source_cases("regress"),
    *_fit_cases("regress", "regressor"),
    *_source_cases("cluster"),
    Case("cluster", "--k", ("0",), "0"),
    Case("cluster", "--k-min", ("1",), "1", extra=("--k", "")),
    Case("cluster", "--k-max", ("1",), "1", extra=("--k", "")),
    Case("cluster", "--sample-size", ("0",), "0"),
    Case("cluster", "--centroids", ("{work}/existing.tif",), "existing.tif"),
    Case("cluster", "--seed", ("-1",), "-1"),
    *_source_cases("change"),
    *_source_cases("zonal"),
    Case("zonal", "--zones", ("{junk}",), "junk.txt"),
    Case("zonal", "--grid-size", ("-5",), "-5", extra=("--zones", "")),
    Case("serve", "--model", ("{random_model}",), "random.pt"),
    Case("serve", "--host", ("192.0.2.1",), "192.0.2.1", id="not an address of this machine"),
    Case("serve", "--port", ("-1",), "-1"),
    Case("serve", "--workers", ("0",), "0"),
    Case("serve", "--cache-mb", ("-1",), "-1"),
    Case("serve", "--oversample", ("9",), "9"),
]


def _command(name: str) -> click.Command:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    return command


def _value_options(name: str) -> set[str]:
    """The long names of a command's options that take a value (not flags, not --help)."""
    names = set()
    for param in _command(name).params:
        if isinstance(param, click.Option) and not param.is_flag and not param.count:
            names.add(max(param.opts, key=len))
    return names


def _fill(values: list[str] | tuple[str, ...], inputs: Inputs, work: Path) -> list[str]:
    paths = {k: str(v) for k, v in vars(inputs).items()}
    return [v.format(work=work, **paths) for v in values]


def _argv(case: Case, inputs: Inputs, work: Path, progress_json: bool = False) -> list[str]:
    """The base command line with ``case.option`` (and its values) replaced, then the case's extras."""
    base = list(BASES[case.command])
    nargs = {
        max(p.opts, key=len): p.nargs for p in _command(case.command).params if isinstance(p, click.Option)
    }
    overridden = {case.option, *case.extra[::2]}
    argv: list[str] = []
    i = 0
    while i < len(base):
        option = base[i]
        width = 1 + (nargs.get(option, 1) if option.startswith("--") and option in nargs else 0)
        if option not in overridden:
            argv += base[i : i + width]
        i += width
    argv += [case.option, *case.values]
    for name, value in zip(case.extra[::2], case.extra[1::2], strict=True):
        if value:
            argv += [name, value]
    if progress_json:
        argv += ["--progress", "json"]
    return [case.command, *_fill(argv, inputs, work)]


def test_every_option_that_takes_a_value_has_a_case() -> None:
    covered = {(c.command, c.option) for c in CASES}
    missing = [
        f"{name} {option}" for name in COMMANDS for option in sorted(_value_options(name))
        if (name, option) not in covered
    ]  # fmt: skip
    assert not missing, f"options without a bad-value case: {missing}"


@pytest.mark.parametrize("case", CASES, ids=[c.label for c in CASES])
def test_bad_value_fails_cleanly(case: Case, inputs: Inputs, work: Path) -> None:
    before = snapshot(work, inputs.root)
    result = invoke(_argv(case, inputs, work))
    line = error_line(result)
    named = _fill([case.named], inputs, work)[0]
    assert named in line + " ", f"{named!r} not named in {line!r}"
    assert snapshot(work, inputs.root) == before
    if "--progress" in _value_options(case.command) and case.option != "--progress":
        result = invoke(_argv(case, inputs, work, progress_json=True))
        error_line(result)
        assert named in json_error(result) + " "
        assert snapshot(work, inputs.root) == before
