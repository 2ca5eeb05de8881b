"""The plugin's own Python environment: where it lives, which torch wheel it gets, and the install steps.

No Qt here: the settings page runs these steps in a background task. The environment is a plain venv
(no ``--system-site-packages``), so nothing installed into it can reach QGIS's own Python and nothing of
QGIS's (its numpy, GDAL bindings) constrains it; the plugin talks to it only through the earth4d-gis CLI.
It is built in ``<folder>.partial`` and renamed into place at the end, so a cancelled or failed set-up
leaves the previous environment (if any) as it was. Everything inside is started as ``python -m ...``,
which keeps working after the rename (console-script shebangs would not).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import PluginError

TORCH_VERSION = "2.13.0"
"""The torch release the plugin installs (the one earth4d-gis is tested with), always with a local label
(``+cpu``, ``+cu126``): pip can never substitute an unpinned CUDA build from PyPI."""
CUDA_BUILDS = ((580, "cu130"), (525, "cu126"))
"""(lowest NVIDIA driver major version, torch wheel build): CUDA 13 wheels need driver 580, CUDA 12 525."""
PYTORCH_INDEX = "https://download.pytorch.org/whl/{build}"
CONFIGURED_INDEX = "configured"
"""``torch_index`` value meaning: pip's own configuration (pip.conf, PIP_INDEX_URL, PIP_FIND_LINKS)."""
CLI_FROM_PYTHON = "from earth4d_gis_cli.main import cli; cli()"
CHECK_SCRIPT = (
    "import json, sys, torch, earth4d_gis; "
    "print(json.dumps({'python': sys.version.split()[0], 'earth4d_gis': earth4d_gis.__version__, "
    "'torch': torch.__version__, 'cuda': torch.cuda.is_available()}))"
)


class SetupError(PluginError):
    """The environment could not be made; the message says why in plain words."""


@dataclass(frozen=True)
class Gpu:
    """What ``nvidia-smi`` reports about the first GPU."""

    name: str
    driver: str

    @property
    def driver_major(self) -> int:
        match = re.match(r"(\d+)", self.driver)
        return int(match.group(1)) if match else 0


def detect_gpu(timeout: float = 10.0) -> Gpu | None:
    """The first NVIDIA GPU and its driver version per ``nvidia-smi``; None without one (or without it)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        result = subprocess.run(
            [exe, "--query-gpu=name,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    first = next((line for line in result.stdout.splitlines() if line.strip()), "")
    if result.returncode != 0 or "," not in first:
        return None
    name, driver = (part.strip() for part in first.split(",", 1))
    return Gpu(name, driver)


def torch_build_for(choice: str, gpu: Gpu | None) -> str:
    """``cpu`` or a CUDA build tag (``cu126``...) for the user's choice (auto | cpu | cuda) and the GPU.

    ``auto`` picks CUDA only when the driver is new enough for one of the wheels; ``cuda`` without such a
    GPU is an error rather than a silently useless install.
    """
    if choice == "cpu":
        return "cpu"
    build = None
    if gpu is not None:
        build = next((tag for lowest, tag in CUDA_BUILDS if gpu.driver_major >= lowest), None)
    if build is not None:
        return build
    if choice == "cuda":
        found = f"{gpu.name} with driver {gpu.driver}" if gpu else "no NVIDIA GPU (nvidia-smi did not answer)"
        raise SetupError(
            f"A CUDA build of torch needs an NVIDIA driver of version {CUDA_BUILDS[-1][0]} or newer; "
            f"found {found}. Choose the CPU build."
        )
    return "cpu"


def torch_requirement(build: str) -> str:
    """The pinned torch requirement, e.g. ``torch==2.13.0+cpu``."""
    return f"torch=={TORCH_VERSION}+{build}"


def default_folder(profile: str | Path) -> Path:
    """Where the plugin keeps its environment: inside the QGIS user profile folder."""
    return Path(profile) / "earth4d" / "python-env"


def venv_python(folder: str | Path) -> Path:
    """The environment's python executable."""
    folder = Path(folder)
    return folder / "Scripts" / "python.exe" if sys.platform == "win32" else folder / "bin" / "python"


def is_environment(folder: str | Path) -> bool:
    """Whether ``folder`` holds a finished environment (made by ``install_steps``)."""
    return venv_python(folder).is_file() and (Path(folder) / "earth4d-ready.json").is_file()


def find_base_python(configured: str = "") -> Path:
    """The Python the environment is made from: ``configured``, else ``python3`` (``python`` on Windows)
    from PATH. QGIS's own interpreter is only a starting point: the venv does not see its packages."""
    if configured.strip():
        path = Path(configured.strip()).expanduser()
        if not path.is_file() or not os.access(path, os.X_OK):
            raise SetupError(
                f"The Python {configured} to make the environment from is not an executable file."
            )
        return path
    for name in ("python3", "python"):
        found = shutil.which(name)
        if found:
            return Path(found)
    raise SetupError(
        "No Python 3 was found on PATH; install Python 3.11 or newer, or choose one in the settings."
    )


@dataclass(frozen=True)
class Step:
    """One command of the set-up: what the user reads, the command, and its share of the progress bar."""

    label: str
    argv: list[str]
    weight: float = 1.0
    env: dict[str, str] = field(default_factory=dict)


def package_arguments(source: str) -> list[str]:
    """pip arguments that install earth4d-gis from ``source``: the index (empty), a wheel, or a folder."""
    text = source.strip()
    if not text:
        return ["earth4d-gis"]
    path = Path(text).expanduser()
    if path.is_dir():
        return ["--find-links", str(path), "earth4d-gis"]
    if path.is_file() and path.suffix == ".whl":
        return [str(path)]
    raise SetupError(f"The earth4d-gis package source {text} is neither a wheel file nor a folder of wheels.")


def staging_folder(folder: Path) -> Path:
    return folder.with_name(folder.name + ".partial")


def install_steps(
    folder: Path, base_python: Path, package_source: str, build: str, torch_index: str = ""
) -> list[Step]:
    """The commands that make the environment in ``folder``'s staging folder (see ``finish_install``)."""
    stage = staging_folder(folder)
    python = str(venv_python(stage))
    torch = torch_requirement(build)
    pip = [python, "-m", "pip", "install", "--progress-bar", "off", "--disable-pip-version-check"]
    index = torch_index.strip()
    torch_source = (
        [] if index == CONFIGURED_INDEX else ["--index-url", index or PYTORCH_INDEX.format(build=build)]
    )
    return [
        Step(f"Creating a Python environment in {folder}", [str(base_python), "-m", "venv", str(stage)], 0.5),
        Step(f"Installing {torch}", [*pip, *torch_source, torch], 4.0),
        # torch pinned again so that resolving earth4d-gis's dependencies can never replace it.
        Step(
            "Installing earth4d-gis and its dependencies",
            [*pip, *package_arguments(package_source), torch],
            4.0,
        ),
        Step("Checking the environment", [python, "-c", CHECK_SCRIPT], 0.5),
    ]


def finish_install(folder: Path, check_output: str) -> None:
    """Mark the staged environment finished and move it onto ``folder`` (replacing an older one)."""
    stage = staging_folder(folder)
    (stage / "earth4d-ready.json").write_text(check_output.strip() + "\n", encoding="utf-8")
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(stage, folder)


def discard_partial(folder: Path) -> None:
    """Remove what a cancelled or failed set-up left in the staging folder."""
    shutil.rmtree(staging_folder(folder), ignore_errors=True)


_PLAIN_ERRORS = (
    (("No space left on device", "Errno 28"), "The disk is full: free some space and press Set up again."),
    (
        ("ProxyError", "Tunnel connection failed", "407 Proxy Authentication"),
        "The proxy refused the connection: check the proxy settings (HTTPS_PROXY, pip.conf).",
    ),
    (
        (
            "NewConnectionError",
            "Failed to establish a new connection",
            "Temporary failure in name resolution",
            "Name or service not known",
            "Network is unreachable",
            "ConnectTimeout",
            "Read timed out",
        ),
        "The package index could not be reached: check the internet connection (or the proxy settings).",
    ),
    (
        ("SSLError", "CERTIFICATE_VERIFY_FAILED"),
        "A secure connection to the package index failed (certificate problem).",
    ),
    (
        ("No matching distribution found", "Could not find a version that satisfies"),
        "A package was not found: {what} is not available for this Python and system "
        "from the package source.",
    ),
    (
        ("ensurepip is not available", "No module named venv"),
        "This Python cannot make environments: install its venv module (python3-venv on Debian/Ubuntu) "
        "or choose another Python.",
    ),
    (
        ("Permission denied", "Errno 13"),
        "Permission denied while writing the environment: choose a folder you can write.",
    ),
)


def plain_error(output: str, returncode: int | None, label: str) -> str:
    """One sentence for a failed step, from what the command printed (the full text is in the log)."""
    for needles, message in _PLAIN_ERRORS:
        if any(needle in output for needle in needles):
            match = re.search(r"(?:satisfies the requirement|distribution found for) (\S+)", output)
            return message.format(what=match.group(1) if match else "a requirement")
    last = next((line.strip() for line in reversed(output.splitlines()) if line.strip()), "")
    detail = f": {last}" if last else ""
    return f"{label} failed (exit status {returncode}){detail}."
