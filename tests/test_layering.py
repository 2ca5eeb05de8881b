"""The one-way data flow and the single sources: imports, RasterOptions, parameter names in messages."""

from __future__ import annotations

import subprocess
import sys

import click
import numpy as np
import pytest
from pyproj import CRS

from earth4d_gis.conventions import DEFAULT_MAX_PIXELS, EMBEDDING_BANDS
from earth4d_gis.errors import InputError, first_line
from earth4d_gis.raster import RasterOptions
from earth4d_gis_cli.options import CRS as CRS_TYPE
from earth4d_gis_cli.options import DATE, flag_spelling


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


def test_the_predictor_never_imports_the_raster_stack() -> None:
    loaded = _modules_after("import earth4d_gis.predictor")
    assert not {m for m in loaded if m.startswith("earth4d_gis.raster")}
    assert "rasterio" not in loaded and "click" not in loaded


def test_the_core_and_help_need_no_heavy_imports_for_shared_names() -> None:
    loaded = _modules_after("import earth4d_gis.conventions, earth4d_gis.errors")
    assert not {"torch", "numpy", "rasterio", "click"} & loaded


def test_raster_options_parse_once_and_take_the_clis_values_as_they_are() -> None:
    date = DATE.convert("2024-06-01", None, None)
    crs = CRS_TYPE.convert("EPSG:32632", None, None)
    assert isinstance(date, np.datetime64) and isinstance(crs, CRS)
    options = RasterOptions(bbox=(1, 2, 3, 4), date=date, crs=crs, bbox_crs=crs)
    assert options.crs is crs and options.bbox_crs is crs and options.date == date
    parsed = RasterOptions(date="2024-06-01", crs="EPSG:32632")
    assert parsed.date == date and parsed.crs == crs and parsed.bbox_crs == CRS.from_epsg(4326)
    assert parsed.max_pixels == DEFAULT_MAX_PIXELS
    with pytest.raises(InputError, match="unknown CRS 'EPSG:0'"):
        RasterOptions(crs="EPSG:0")
    with pytest.raises(InputError, match="date '2024-13-01' is not"):
        RasterOptions(date="2024-13-01")


def test_raster_options_build_and_from_mapping() -> None:
    base = RasterOptions(bbox=(1, 2, 3, 4), date="2024")
    changed = RasterOptions.build(base, output="int8", width=8)
    assert (changed.output, changed.width, changed.bbox) == ("int8", 8, (1, 2, 3, 4))
    assert base.output == "embeddings", "frozen: build makes a new object"
    with pytest.raises(TypeError, match="unknown raster option"):
        RasterOptions.build(base, colour="red")
    picked = RasterOptions.from_mapping({"bbox": (1, 2, 3, 4), "out": "x.tif", "workers": 2, "height": 5})
    assert picked.height == 5 and picked.bbox == (1, 2, 3, 4)


def test_core_parameter_names_become_the_commands_flags() -> None:
    @click.command()
    @click.option("--overwrite", is_flag=True)
    @click.option("--max-pixels", "max_pixels", type=int)
    @click.option("--output", type=str)
    def command(**_: object) -> None:
        """A command with three options."""

    spell = lambda text: flag_spelling(text, command)  # noqa: E731
    assert spell("x exists; use overwrite=True to replace it") == "x exists; use --overwrite to replace it"
    assert spell("raise the limit with max_pixels=N") == "raise the limit with --max-pixels N"
    assert spell("use output='embeddings' or output='int8'") == "use --output embeddings or --output int8"
    assert spell("run again with force_download=True") == "run again with force_download=True"
    assert spell("a path /tmp/a=True.tif") == "a path /tmp/a=True.tif"


def test_numbers_sequences_and_switches_become_the_commands_flags() -> None:
    from earth4d_gis_cli.field_options import FieldOption

    @click.command()
    @click.option("--epochs", type=int)
    @click.option("--hidden")
    @click.option("--video/--no-video", "make_video", default=True)
    @click.option("--resume", is_flag=True)
    @click.option("--time-limit", "time_limit", cls=FieldOption, type=float, scale=60.0)
    @click.option("--backend", cls=FieldOption, none_word="auto")
    def command(**_: object) -> None:
        """A command with options of every kind the core's messages name."""

    spell = lambda text: flag_spelling(text, command)  # noqa: E731
    assert spell("epochs=0 must be at least 1") == "--epochs 0 must be at least 1"
    assert spell("epochs=-2.5e-3 and epochs=nan") == "--epochs -2.5e-3 and --epochs nan"
    assert (
        spell("hidden=(64, 0) or hidden=[32] or hidden=(8,)") == "--hidden 64,0 or --hidden 32 or --hidden 8"
    )
    assert spell("make_video=False, make_video=True") == "--no-video, --video"
    assert spell("resume=False stays; resume=True:") == "resume=False stays; --resume:"
    assert spell("time_limit=-90.0 must be positive") == "--time-limit -1.5 must be positive"
    assert spell("backend=None, backend='cpu'") == "--backend auto, --backend cpu"
    assert spell("epochs=5.") == "--epochs 5."
    assert spell("seed=7 and epochs=N") == "seed=7 and --epochs N", "not an option: as the core wrote it"


def test_first_line_of_empty_and_multi_line_messages() -> None:
    assert first_line(ValueError("")) == "ValueError"
    assert first_line(OSError("\n  disk full  \nmore detail")) == "disk full"
    assert EMBEDDING_BANDS[0] == "A00" and EMBEDDING_BANDS[-1] == "A63" and len(EMBEDDING_BANDS) == 64
