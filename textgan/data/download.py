"""HTTP download with resume: a `.part` file continued by a Range request, then renamed."""

from __future__ import annotations

import http.client
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO

from textgan.errors import TextganError

CHUNK = 1 << 20
TIMEOUT_S = 60
OnBytes = Callable[[int, int | None], None]  # (bytes done, total bytes or None)


def is_url(source: str) -> bool:
    return urllib.parse.urlparse(source).scheme in ("http", "https")


def download(url: str, dest: Path, on_bytes: OnBytes) -> None:
    """Download url to dest via dest.part, continuing a .part left by an interrupted run.

    When the server ignores the Range request (answers 200), the .part is started over.
    """
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    response = open_url(url, have)
    if response is None:  # the server cannot resume from the .part: start over
        have = 0
        response = open_url(url, 0)
    with response:
        start, total = _resume_point(response, have, url)
        on_bytes(start, total)
        with part.open("r+b" if start else "wb") as f:
            f.truncate(start)
            f.seek(start)
            _copy_response(response, f, start, total, on_bytes, url)
            f.flush()
            os.fsync(f.fileno())
    os.replace(part, dest)


def open_url(url: str, start: int = 0) -> http.client.HTTPResponse | None:
    """Open `url` from byte `start`; None when the server refuses that range (HTTP 416)."""
    headers = {"User-Agent": "textgan"} | ({"Range": f"bytes={start}-"} if start else {})
    try:
        return urllib.request.urlopen(
            urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S
        )
    except urllib.error.HTTPError as e:
        if e.code == 416 and start:
            return None
        raise TextganError(f"cannot download {url}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        raise TextganError(f"cannot reach {url}: {getattr(e, 'reason', e)}") from e


def _resume_point(
    response: http.client.HTTPResponse, have: int, url: str
) -> tuple[int, int | None]:
    """(offset the body starts at, full size) — 0 when the server ignored the Range header."""
    if response.status != 206:
        length = response.headers.get("Content-Length")
        return 0, int(length) if length else None
    match = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", ""))
    if match is None or int(match.group(1)) != have:
        raise TextganError(
            f"{url} resumed at the wrong offset; delete the .part file and run again"
        )
    return have, None if match.group(2) == "*" else int(match.group(2))


def _copy_response(
    response: http.client.HTTPResponse,
    f: IO[bytes],
    done: int,
    total: int | None,
    on_bytes: OnBytes,
    url: str,
) -> None:
    while True:
        try:
            chunk = response.read(CHUNK)
        except (OSError, http.client.HTTPException) as e:
            raise _interrupted(url, done, total, str(e)) from e
        if not chunk:
            break
        f.write(chunk)
        done += len(chunk)
        on_bytes(done, total)
    if total is not None and done < total:
        raise _interrupted(url, done, total, "connection closed")


def _interrupted(url: str, done: int, total: int | None, why: str) -> TextganError:
    return TextganError(
        f"download of {url} stopped at {done} of {total} bytes ({why}); run again to resume"
    )
