"""The subprocess runner's protocol handling, against small stand-in CLIs (fast, no model needed)."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import AREA, DATE

pytestmark = pytest.mark.qgis

FAKE_CLI = """#!{python}
import json, os, sys, time
args = sys.argv[1:]
out = args[args.index("--out") + 1]
behaviour = os.environ.get("FAKE_BEHAVIOUR", "ok")
with open(os.environ["FAKE_LOG"], "w") as log:
    log.write(json.dumps({{"argv": args, "pythonpath": os.environ.get("PYTHONPATH")}}))
print("some log line that is not JSON", flush=True)
for i in range(3):
    print(json.dumps({{"event": "progress", "fraction": i / 4, "message": f"window {{i}}"}}), flush=True)
with open(out, "wb") as f:
    f.write(b"partial")
if behaviour == "hang":
    time.sleep(60)
if behaviour == "error-event":
    print(json.dumps({{"event": "error", "message": "date '2024-13-01' is not a date"}}), flush=True)
    sys.exit(1)
if behaviour == "click-error":
    print("Usage: earth4d-gis rasterize [OPTIONS]", file=sys.stderr)
    print("Error: bbox west 200.0 is outside [-180, 180]", file=sys.stderr)
    sys.exit(2)
if behaviour == "crash":
    print("Traceback (most recent call last):", file=sys.stderr)
    print("RuntimeError: boom", file=sys.stderr)
    sys.exit(1)
print(json.dumps({{"event": "done", "path": out}}), flush=True)
"""


@pytest.fixture
def fake_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "bin" / "earth4d-gis"
    script.parent.mkdir()
    script.write_text(FAKE_CLI.format(python=sys.executable))
    script.chmod(0o755)
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "fake_log.json"))
    monkeypatch.setenv("PYTHONPATH", "/qgis/own/python")
    return script


def _request(out_dir: Path, model: Path, kind: str = "rgb") -> Any:
    from earth4d.core.request import LayerKind, LayerRequest

    point = (47.26, 11.4) if kind == "similarity" else None
    return LayerRequest(
        model=model,
        output=out_dir / "out.tif",
        kind=LayerKind(kind),
        date=DATE,
        bbox=AREA,
        resolution=50.0,
        crs="EPSG:4326",
        point=point,
    )


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def test_progress_and_done_events_drive_the_result(
    plugin_package: Any, fake_cli: Path, out_dir: Path, tmp_path: Path
) -> None:
    import json

    from earth4d.core.runners import SubprocessRunner, resolve_cli

    progress: list[tuple[float, str]] = []
    runner = SubprocessRunner(resolve_cli(str(fake_cli)))
    path = runner.rasterize(
        _request(out_dir, tmp_path / "m.pt"), lambda f, m: progress.append((f, m)), lambda: False
    )
    assert path == out_dir / "out.tif" and path.read_bytes() == b"partial"
    assert progress == [(0.0, "window 0"), (0.25, "window 1"), (0.5, "window 2")]
    assert [p.name for p in out_dir.iterdir()] == ["out.tif"]
    logged = json.loads((tmp_path / "fake_log.json").read_text())
    assert logged["pythonpath"] is None, "QGIS's PYTHONPATH must not leak into another Python"
    argv = logged["argv"]
    assert argv[0] == "rasterize" and argv[argv.index("--output") + 1] == "rgb"
    assert argv[argv.index("--bbox") + 1 : argv.index("--bbox") + 5] == [repr(v) for v in AREA]
    assert argv[argv.index("--progress") + 1] == "json" and argv[argv.index("--crs") + 1] == "EPSG:4326"
    assert Path(argv[argv.index("--out") + 1]).parent != out_dir, "the CLI writes into a staging folder"


def test_similarity_uses_its_own_command(
    plugin_package: Any, fake_cli: Path, out_dir: Path, tmp_path: Path
) -> None:
    import json

    from earth4d.core.runners import SubprocessRunner, resolve_cli

    SubprocessRunner(resolve_cli(str(fake_cli))).rasterize(
        _request(out_dir, tmp_path / "m.pt", "similarity"), lambda f, m: None, lambda: False
    )
    argv = json.loads((tmp_path / "fake_log.json").read_text())["argv"]
    assert argv[0] == "similarity" and "--output" not in argv
    assert argv[argv.index("--point") + 1 : argv.index("--point") + 3] == ["47.26", "11.4"]


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        ("error-event", "Date '2024-13-01' is not a date."),
        ("click-error", "Bbox west 200.0 is outside [-180, 180]."),
        ("crash", "The earth4d-gis command stopped with exit status 1 (RuntimeError: boom)."),
    ],
)
def test_cli_errors_become_one_sentence_and_no_file(
    plugin_package: Any,
    fake_cli: Path,
    out_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    behaviour: str,
    message: str,
) -> None:
    from earth4d.core.errors import PluginError
    from earth4d.core.runners import SubprocessRunner, resolve_cli

    monkeypatch.setenv("FAKE_BEHAVIOUR", behaviour)
    runner = SubprocessRunner(resolve_cli(str(fake_cli)))
    with pytest.raises(PluginError) as info:
        runner.rasterize(_request(out_dir, tmp_path / "m.pt"), lambda f, m: None, lambda: False)
    assert str(info.value) == message
    assert list(out_dir.iterdir()) == []


def test_cancel_ends_the_process_and_removes_partial_output(
    plugin_package: Any, fake_cli: Path, out_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from earth4d.core.errors import Cancelled
    from earth4d.core.runners import SubprocessRunner, resolve_cli

    monkeypatch.setenv("FAKE_BEHAVIOUR", "hang")
    seen = threading.Event()
    runner = SubprocessRunner(resolve_cli(str(fake_cli)))
    start = time.monotonic()
    with pytest.raises(Cancelled):
        runner.rasterize(
            _request(out_dir, tmp_path / "m.pt"), lambda f, m: f >= 0.5 and seen.set(), seen.is_set
        )
    assert time.monotonic() - start < 20, "cancel must not wait for the CLI to finish"
    assert list(out_dir.iterdir()) == [], "the partial file and the staging folder are gone"


def test_python_interpreter_setting_runs_the_cli_module(plugin_package: Any) -> None:
    from earth4d.core.runners import resolve_cli

    command = resolve_cli(sys.executable)
    assert command[:2] == [sys.executable, "-c"] and "earth4d_gis_cli.main" in command[2]


@pytest.mark.parametrize("setting", ["/nonexistent/bin/python", os.devnull])
def test_bad_environment_setting_is_named(plugin_package: Any, setting: str) -> None:
    from earth4d.core.errors import PluginError
    from earth4d.core.runners import resolve_cli

    with pytest.raises(PluginError, match=f"environment {setting} is not an executable file"):
        resolve_cli(setting)
