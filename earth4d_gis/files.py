"""Writing files safely, for every command: nothing half-written under a final name, nothing clobbered.

Every output is written to a temporary beside its final name (same file system), given the mode a
plain ``open(..., "w")`` would give it (0666 minus the umask), then moved onto the final name in one
step. Without ``overwrite`` the move refuses to replace a file that appeared while the work ran.
Temporaries carry the writing process's id in their name, so a later run can remove those a killed
process left (``remove_stale_temporaries``). A failed write becomes one ``WriteError`` line naming the
file and the reason ("no space left on device", "read-only file system", ...).
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from .errors import Earth4DError, InputError, WriteError, first_line

_STALE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.[^.]+\.tmp(\.\w+)?$")
_LOW_SPACE_BYTES = 1 << 20
_REASONS = (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT, errno.ENOTDIR, errno.EISDIR, errno.EFBIG)


def normal_mode() -> int:
    """The permission bits a plain new file gets here: 0666 minus the process's umask."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def write_failure_reason(folder: Path, exc: BaseException) -> str:
    """Why a write failed, in a few words: the OS error when there is one, else what the disk says."""
    code = getattr(exc, "errno", None)
    if isinstance(exc, OSError) and code:
        return os.strerror(code).lower()
    text = str(exc).lower()
    for candidate in _REASONS:
        if os.strerror(candidate).lower() in text:
            return os.strerror(candidate).lower()
    # GDAL, torch and pyarrow often lose errno ("Write failed", "file write failed"): ask the disk.
    with contextlib.suppress(OSError):
        free = shutil.disk_usage(folder).free
        if free < _LOW_SPACE_BYTES:
            return f"{os.strerror(errno.ENOSPC).lower()} ({free:,} bytes free)"
    return first_line(exc)


def write_error(path: Path, exc: BaseException) -> WriteError:
    """A ``WriteError`` naming ``path`` and the reason ``exc`` stands for."""
    return WriteError(f"could not write {path}: {write_failure_reason(path.parent, exc)}")


@contextlib.contextmanager
def write_errors(path: Path) -> Iterator[None]:
    """Turn any failure inside the block (except our own errors and interrupts) into a ``WriteError``.

    Use it inside a staging block, so the reason is read while the temporaries still fill the disk.
    """
    try:
        yield
    except Earth4DError:
        raise
    except Exception as exc:  # noqa: BLE001 - GDAL, torch, pyarrow, PIL, ffmpeg: anything that failed to write
        raise write_error(path, exc) from None


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: Path, name: str | None = None) -> list[Path]:
    """Remove the temporaries (files or folders) that killed processes left in ``folder``.

    Only names this module makes (``.NAME.PID.XXXX.tmp``) whose process is gone are touched; with
    ``name``, only those of that final name. Returns what was removed.
    """
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        match = _STALE.match(path.name)
        if match is None or (name is not None and match["name"] != name) or _pid_alive(int(match["pid"])):
            continue
        _remove_temporary(path)
        removed.append(path)
    return removed


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.{os.getpid()}."


def _remove_temporary(path: Path) -> None:
    """Remove a temporary file or folder (never following a link)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _new_temporary(target: Path, make: Callable[[str], str]) -> Path:
    """A new temporary beside ``target``, made by ``make(prefix)`` (``tempfile``, returning its name).

    An interrupt (Ctrl-C, SIGTERM) can land inside ``tempfile`` after it made the temporary and before it
    returned the name; then the new name with this process's prefix is removed before the interrupt goes
    on (other temporaries of the process stay). ``OSError`` passes through for the caller to word.
    """
    prefix = _temp_prefix(target)
    pattern = glob.escape(prefix) + "*"
    existing = set(target.parent.glob(pattern))
    try:
        return Path(make(prefix))
    except BaseException:
        for made in set(target.parent.glob(pattern)) - existing:
            _remove_temporary(made)
        raise


def _temporary_file(prefix: str, suffix: str, folder: Path) -> str:
    """``tempfile.mkstemp``'s file, closed: its name."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=folder)
    os.close(fd)
    return name


def publish(staged: Path, out: Path, overwrite: bool = True) -> Path:
    """Move a finished file onto its final name in one step, with the mode a plain write would give.

    Without ``overwrite`` an existing ``out`` (one that appeared while the work ran) is never replaced:
    the move is a hard link, which fails when the name is taken.
    """
    os.chmod(staged, normal_mode())
    if overwrite:
        os.replace(staged, out)
        return out
    try:
        os.link(staged, out)
    except FileExistsError:
        raise InputError(
            f"output {out} appeared while it was being written and was left as it is; "
            "use overwrite=True to replace it"
        ) from None
    except OSError:  # a file system without hard links: check, then rename
        if out.exists():
            raise InputError(
                f"output {out} appeared while it was being written and was left as it is; "
                "use overwrite=True to replace it"
            ) from None
        os.replace(staged, out)
        return out
    os.unlink(staged)
    return out


@contextlib.contextmanager
def atomic_output(
    target: str | os.PathLike[str], *, overwrite: bool = True, extension: str = ""
) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; when the block succeeds, publish it as ``target``.

    On any failure the temporary is removed and the error raised as a one-line ``WriteError``
    (interrupts pass through unchanged). ``extension`` (e.g. ".mp4") ends the temporary's name, for
    writers that choose a format by it (ffmpeg).
    """
    out = Path(target)
    try:
        tmp = _new_temporary(out, lambda prefix: _temporary_file(prefix, ".tmp" + extension, out.parent))
    except OSError as exc:
        raise write_error(out, exc) from None
    try:
        with write_errors(out):
            yield tmp
            publish(tmp, out, overwrite)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def staging_folder(out: Path) -> Iterator[Path]:
    """A hidden temporary folder beside ``out`` (same file system, so the final rename is atomic).

    It and everything in it are removed when the block exits, on success, error, Ctrl-C or SIGTERM
    alike; one a killed process left is removed by the next run for the same output.
    """
    remove_stale_temporaries(out.parent, out.name)
    try:
        folder = _new_temporary(
            out, lambda prefix: tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=out.parent)
        )
    except OSError as exc:
        raise write_error(out, exc) from None
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def staged_result(folder: Path, out: Path) -> Path:
    """Where the finished output is assembled in a staging folder: a name no internal file uses."""
    return folder / f"result{out.suffix}"


def check_output_path(path: str | os.PathLike[str], overwrite: bool) -> Path:
    """The output path, after checking its folder is writable and it exists only if ``overwrite``."""
    out = Path(path).expanduser()
    if out.is_dir():
        raise InputError(f"output {out} is a folder, not a file name")
    if out.exists() and not overwrite:
        raise InputError(f"output {out} already exists; use overwrite=True to replace it")
    folder = out.parent
    if folder.exists() and not folder.is_dir():
        raise InputError(f"output folder {folder} is a file, not a folder")
    if not folder.is_dir():
        raise InputError(f"output folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        reason = "read-only file system" if _read_only(folder) else "permission denied"
        raise InputError(f"output folder {folder} is not writable ({reason})")
    return out


def check_output_folder(
    folder: str | os.PathLike[str], what: str = "output folder", *, create: bool = True
) -> Path:
    """Make ``folder`` (and parents) when ``create``; one line when that is impossible or it is not writable.

    With ``create=False`` nothing is made: the first existing folder on the way must be writable.
    """
    path = Path(folder).expanduser()
    existing = next((p for p in (path, *path.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise InputError(f"{what} {path} cannot be made: {existing} is a file, not a folder")
    if not create:
        if not os.access(existing, os.W_OK | os.X_OK):
            reason = "read-only file system" if _read_only(existing) else "permission denied"
            raise InputError(f"{what} {path} is not writable ({existing}: {reason})")
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{what} {path} cannot be made ({write_failure_reason(path, exc)})") from None
    probe = None
    try:
        probe = _new_temporary(path / "probe", lambda prefix: _temporary_file(prefix, ".tmp", path))
    except OSError as exc:
        raise InputError(f"{what} {path} is not writable ({write_failure_reason(path, exc)})") from None
    finally:
        if probe is not None:
            probe.unlink(missing_ok=True)
    return path


def _read_only(path: Path) -> bool:
    with contextlib.suppress(OSError):
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    return False
