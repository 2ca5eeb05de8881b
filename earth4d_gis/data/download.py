"""Resumable, verified, atomic HTTP downloads (standard library only).

A file is fetched into ``NAME.part`` (resumed with an HTTP Range request when a part exists, restarted
when the server ignores the range), renamed into place only when complete, and its size and sha256
are recorded in a JSON manifest beside it, which later runs verify against.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import http.client
import json
import logging
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .._version import __version__
from ..errors import DownloadError
from ..files import atomic_output, check_output_folder

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
_CHUNK = 1 << 20
_ATTEMPTS = 5
_TIMEOUT_S = 60.0
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def sha256_of(path: Path) -> str:
    """sha256 (hex) of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


class Manifest:
    """``manifest.json`` in a data folder: name -> {url, size, sha256, recorded}."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / MANIFEST_NAME
        self.files: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            try:
                self.files = dict(json.loads(self.path.read_text())["files"])
            except (ValueError, KeyError, TypeError):
                raise DownloadError(
                    f"{self.path} is not a readable download manifest; delete it or use force_download=True"
                ) from None

    def record(self, name: str, url: str, path: Path) -> None:
        self.files[name] = {
            "url": url,
            "size": path.stat().st_size,
            "sha256": sha256_of(path),
            "recorded": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
        self.save()

    def save(self) -> None:
        doc = {
            "format": "earth4d-gis-download-manifest",
            "software_version": __version__,
            "files": self.files,
        }
        with atomic_output(self.path) as tmp:
            tmp.write_text(json.dumps(doc, indent=2))

    def verify(self, name: str, path: Path) -> None:
        """Raise ``DownloadError`` when ``path`` differs from its recorded size or sha256."""
        entry = self.files[name]
        size = path.stat().st_size
        if size != entry["size"] or sha256_of(path) != entry["sha256"]:
            raise DownloadError(
                f"{path} does not match its manifest entry ({size} bytes, expected {entry['size']} with "
                f"sha256 {entry['sha256'][:12]}...): it is damaged or was changed; "
                "run again with force_download=True"
            )


def _unreachable(url: str, reason: object) -> DownloadError:
    host = urllib.parse.urlsplit(url).netloc or url
    why = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
    return DownloadError(
        f"could not reach {host} ({why}); check the network connection, or train on the built-in demo world "
        "with dataset='demo'"
    )


class _RangeNotSatisfiable(Exception):
    """HTTP 416 to a resume request; ``total`` is the remote size when the server said it."""

    def __init__(self, total: int | None) -> None:
        super().__init__(total)
        self.total = total


def _open(url: str, offset: int) -> http.client.HTTPResponse:
    """Open ``url`` from byte ``offset`` (a Range request when non-zero)."""
    headers = {"User-Agent": f"earth4d-gis/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            match = re.match(r"bytes\s+\*/(\d+)", exc.headers.get("Content-Range", "") if exc.headers else "")
            raise _RangeNotSatisfiable(int(match.group(1)) if match else None) from None
        raise DownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise _unreachable(url, exc.reason) from None
    except (TimeoutError, ConnectionError, OSError) as exc:
        raise _unreachable(url, exc) from None


def _resume_point(response: http.client.HTTPResponse, offset: int) -> tuple[int, int | None]:
    """Where the body starts in the file and the file's total size (None when unknown)."""
    if offset and response.status == 206:
        match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
        if match and int(match.group(1)) == offset:
            total = match.group(3)
            return offset, int(total) if total != "*" else None
        raise DownloadError(
            f"the server answered a resume request with an unexpected range for {response.url}"
        )
    length = response.headers.get("Content-Length")
    if offset:
        log.info("the server ignored the resume request; downloading from the start")
    return 0, int(length) if length is not None else None


def download_to_part(url: str, part: Path, *, progress: bool = True, label: str | None = None) -> None:
    """Fetch ``url`` into ``part``, resuming from its current size; retries interrupted transfers."""
    received, total = 0, None
    for attempt in range(1, _ATTEMPTS + 1):
        offset = part.stat().st_size if part.exists() else 0
        try:
            response = _open(url, offset)
        except _RangeNotSatisfiable as exc:
            # Nothing past ``offset``: the part is complete already, or it does not belong to this file.
            if exc.total is not None and offset == exc.total:
                return
            log.info("the partial file %s does not fit the remote file; starting over", part)
            part.unlink()
            continue
        with response:
            start, total = _resume_point(response, offset)
            received = start
            mode = "ab" if start else "wb"
            bar = tqdm(
                total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
                desc=label or part.name.removesuffix(".part"), disable=not progress, leave=False,
            )  # fmt: skip
            try:
                with open(part, mode) as fh, bar:
                    while block := response.read(_CHUNK):
                        fh.write(block)
                        received += len(block)
                        bar.update(len(block))
            except (http.client.HTTPException, ConnectionError, TimeoutError) as exc:
                log.warning("download of %s interrupted at %d bytes (%s); resuming", url, received, exc)
                continue
        if total is None or received == total:
            return
        log.warning(
            "download of %s ended at %d of %d bytes (attempt %d); resuming", url, received, total, attempt
        )
    raise DownloadError(
        f"download of {url} kept being interrupted ({received} of {total or '?'} bytes after {_ATTEMPTS} "
        "attempts); run again to resume"
    )


def fetch(url: str, dest: Path, *, force: bool = False, progress: bool = True) -> Path:
    """Make ``dest`` a verified copy of ``url``: download if missing (resuming a ``.part``), else verify.

    The first download records size and sha256 in the folder's manifest; later calls (and later
    downloads of the same name) must match it. ``force`` downloads afresh and accepts the new file, but
    the file in place (and its manifest entry) stays until the new one is complete: an offline forced
    download loses nothing.
    """
    check_output_folder(dest.parent, "data folder")
    manifest = Manifest(dest.parent)
    part = dest.with_name(dest.name + ".part")
    if force:
        part.unlink(missing_ok=True)
        log.info("downloading %s to %s again (force_download=True)", url, dest)
        download_to_part(url, part, progress=progress, label=dest.name)
        os.replace(part, dest)
        manifest.record(dest.name, url, dest)
        return dest
    if dest.exists():
        if dest.name in manifest.files:
            manifest.verify(dest.name, dest)
        else:
            log.info("recording %s, found in place, in %s", dest, manifest.path)
            manifest.record(dest.name, url, dest)
        return dest
    log.info("downloading %s to %s", url, dest)
    download_to_part(url, part, progress=progress, label=dest.name)
    if dest.name in manifest.files:
        try:
            manifest.verify(dest.name, part)
        except DownloadError:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"the download of {dest.name} from {url} does not match the size and sha256 recorded in "
                f"{manifest.path}; run again with force_download=True to accept the new file"
            ) from None
    os.replace(part, dest)
    if dest.name not in manifest.files:
        manifest.record(dest.name, url, dest)
    return dest
