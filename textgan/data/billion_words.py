"""Import the official One Billion Word tarball as two plain-text corpora, without extracting it.

`billion_words.txt` holds the 99 training shards in numeric order (the order the WGAN-GP paper's
loader reads them) and `billion_words_heldout.txt` the held-out shards in numeric order. The archive
is streamed member by member; a shard stored ahead of its turn is spilled to a temp file in the
output folder and replayed once the shards before it are written (or at the end of the archive).
"""

from __future__ import annotations

import errno
import gzip
import http.client
import os
import re
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

from textgan.config import PAPER_EVAL_LINES
from textgan.data.download import CHUNK, download, is_url, open_url
from textgan.errors import TextganError

DEFAULT_SOURCE = (
    "http://www.statmt.org/lm-benchmark/1-billion-word-language-modeling-benchmark-r13output.tar.gz"
)
TRAIN_NAME = "billion_words.txt"
HELDOUT_NAME = "billion_words_heldout.txt"
PROGRESS_STEP_BYTES = 1 << 20  # report progress at most once per this many bytes read

_TOP = re.escape("1-billion-word-language-modeling-benchmark-r13output")
_TRAIN = re.compile(
    rf"{_TOP}/training-monolingual\.tokenized\.shuffled/news\.en-(\d{{5}})-of-00100"
)
_HELDOUT = re.compile(
    rf"{_TOP}/heldout-monolingual\.tokenized\.shuffled/news\.en\.heldout-(\d{{5}})-of-00050"
)


@dataclass(frozen=True)
class Progress:
    phase: str  # "download" or "extract"
    done_bytes: int  # bytes downloaded, or compressed bytes of the archive read so far
    total_bytes: int | None
    lines: int  # lines written to the outputs so far


@dataclass(frozen=True)
class ImportResult:
    train_path: Path
    heldout_path: Path
    train_lines: int
    heldout_lines: int
    heldout_from_stream: bool  # held-out lines were set aside from the training stream
    downloaded: bool


_OnProgress = Callable[[Progress], None] | None


class _Meter:
    """Counts bytes and lines of one phase and calls `on_progress` every PROGRESS_STEP_BYTES."""

    def __init__(
        self, on_progress: _OnProgress, phase: str, total: int | None, done: int = 0
    ) -> None:
        self.on_progress, self.phase, self.total, self.done = on_progress, phase, total, done
        self.lines = 0
        self._reported = -PROGRESS_STEP_BYTES
        self.report()

    def advance(self, n: int) -> None:
        self.done += n
        if self.done - self._reported >= PROGRESS_STEP_BYTES:
            self.report()

    def report(self) -> None:
        self._reported = self.done
        if self.on_progress is not None:
            self.on_progress(Progress(self.phase, self.done, self.total, self.lines))


@dataclass
class _SourceReader:
    """File-like view of the source that feeds the meter and names the source in its errors."""

    raw: BinaryIO
    label: str
    meter: _Meter

    def read(self, size: int = -1) -> bytes:
        try:
            data = self.raw.read(size)
        except (OSError, http.client.HTTPException) as e:
            raise TextganError(f"reading {self.label} failed: {e}") from e
        total, done = self.meter.total, self.meter.done
        if not data and size != 0 and total is not None and done < total:
            raise TextganError(f"{self.label} ended after {done} of {total} bytes")
        self.meter.advance(len(data))
        return data


@dataclass
class _LineSink:
    """Takes lines in corpus order: the first `keep` to `main`, the next `aside` to `aside_file`."""

    main: IO[bytes]
    meter: _Meter
    keep: int | None = None  # None: take every line
    aside_file: IO[bytes] | None = None
    aside: int = 0
    main_lines: int = 0
    aside_lines: int = 0

    @property
    def full(self) -> bool:
        return (
            self.keep is not None
            and self.main_lines >= self.keep
            and self.aside_lines >= self.aside
        )

    def write_all(self, lines: Iterable[bytes]) -> None:
        lines = iter(lines)
        room = None if self.keep is None else max(self.keep - self.main_lines, 0)
        self.main_lines += _copy_lines(lines, self.main, room, self.meter)
        if self.aside_file is not None:
            room = max(self.aside - self.aside_lines, 0)
            self.aside_lines += _copy_lines(lines, self.aside_file, room, self.meter)


def _copy_lines(lines: Iterator[bytes], f: IO[bytes], limit: int | None, meter: _Meter) -> int:
    """Write up to `limit` lines (None: all), taking no line beyond them from `lines`."""
    count = 0
    for line in islice(lines, limit):
        f.write(line)
        count += 1
    meter.lines += count
    return count


class _Scratch:
    """Temp files in the output folder; whatever is left of them is removed on exit."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.files: list[IO[bytes]] = []

    def __enter__(self) -> _Scratch:
        return self

    def __exit__(self, *exc: object) -> None:
        for f in self.files:
            self.discard(f)

    def create(self, tag: str) -> IO[bytes]:
        fd, name = tempfile.mkstemp(dir=self.out_dir, prefix=f".{tag}.", suffix=".tmp")
        os.close(fd)  # reopened as a plain file: tempfile's wrapper costs a call per write
        f = open(name, "w+b")  # noqa: SIM115 - closed by discard() or commit()
        self.files.append(f)
        return f

    def discard(self, f: IO[bytes]) -> None:
        f.close()
        Path(f.name).unlink(missing_ok=True)

    def commit(self, moves: dict[IO[bytes], Path]) -> None:
        """Make every file durable first, then move them all into place."""
        for f in moves:
            f.flush()
            os.fsync(f.fileno())
        for f, dest in moves.items():
            f.close()
            os.chmod(f.name, 0o644)  # mkstemp files are private; corpora are ordinary files
            os.replace(f.name, dest)


@dataclass
class _OrderedShards:
    """Feeds shards to a sink in numeric order, whatever order the archive stores them in."""

    next: int  # the index of the shard the sink takes next
    sink: _LineSink
    scratch: _Scratch
    limit: int | None  # lines per shard that can matter; None: all
    spilled: dict[int, IO[bytes]] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)

    def add(self, index: int, name: str, f: IO[bytes]) -> None:
        if index in self.seen:
            raise TextganError(f"the archive holds {name} twice")
        self.seen.add(index)
        lines = _member_lines(f, name, self.limit)
        if index != self.next:
            spill = self.scratch.create("billion_words.spill")
            spill.writelines(lines)
            self.spilled[index] = spill
            return
        self.sink.write_all(lines)
        self.next += 1
        while self.next in self.spilled:
            self._replay(self.next)
            self.next += 1

    def finish(self) -> None:
        """Replay the shards still spilled: those after a shard the archive does not hold."""
        for index in sorted(self.spilled):
            self._replay(index)

    def _replay(self, index: int) -> None:
        spill = self.spilled.pop(index)
        spill.seek(0)
        self.sink.write_all(spill)
        self.scratch.discard(spill)


def import_billion_words(
    source: str = DEFAULT_SOURCE,
    out_dir: Path = Path("corpora"),
    max_lines: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    heldout_lines: int = PAPER_EVAL_LINES,
) -> ImportResult:
    """Write OUT_DIR/billion_words.txt and billion_words_heldout.txt from the official tarball.

    `source` is a local path or an http(s) URL. A full import from a URL first downloads the
    tarball into `out_dir` (resuming a `.part` left by an earlier attempt). With `max_lines` the
    source is streamed and reading stops after that many training lines; unless the held-out
    shards were reached, the `heldout_lines` training-stream lines that follow those become the
    held-out file (`heldout_from_stream`).
    """
    if max_lines is not None and max_lines <= 0:
        raise TextganError(f"max_lines must be at least 1, got {max_lines}")
    if heldout_lines < 0:
        raise TextganError(f"heldout_lines must not be negative, got {heldout_lines}")
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        downloaded = False
        if is_url(source) and max_lines is None:
            source, downloaded = _fetch(source, out_dir, on_progress)
        with _open_source(source) as (raw, total):
            meter = _Meter(on_progress, "extract", total)
            counts = _write_outputs(
                _SourceReader(raw, source, meter), out_dir, max_lines, heldout_lines
            )
            meter.report()
    except OSError as e:
        raise _write_error(e, out_dir) from e
    return ImportResult(out_dir / TRAIN_NAME, out_dir / HELDOUT_NAME, *counts, downloaded)


def _write_outputs(
    reader: _SourceReader, out_dir: Path, max_lines: int | None, heldout_lines: int
) -> tuple[int, int, bool]:
    with _Scratch(out_dir) as scratch:
        train_file, aside_file = scratch.create("billion_words"), scratch.create("billion_words")
        heldout_file = scratch.create("billion_words_heldout")
        train_sink = _LineSink(train_file, reader.meter, max_lines, aside_file, heldout_lines)
        heldout_sink = _LineSink(heldout_file, reader.meter)
        limit = None if max_lines is None else max_lines + heldout_lines
        train = _OrderedShards(1, train_sink, scratch, limit)
        heldout = _OrderedShards(0, heldout_sink, scratch, None)
        _read_archive(reader, train, heldout)
        train.finish()
        heldout.finish()
        _check_layout(reader.label, train, heldout, max_lines)
        if heldout.seen:
            chosen, heldout_count = heldout_file, heldout_sink.main_lines
        else:
            chosen, heldout_count = aside_file, train_sink.aside_lines
        scratch.commit({train_file: out_dir / TRAIN_NAME, chosen: out_dir / HELDOUT_NAME})
    return train_sink.main_lines, heldout_count, not heldout.seen


def _check_layout(
    label: str, train: _OrderedShards, heldout: _OrderedShards, max_lines: int | None
) -> None:
    """Refuse an archive without training shards, or without held-out ones for a full import."""
    if not train.seen:
        raise TextganError(f"{label} is not the One Billion Word archive: no training shards")
    if not heldout.seen and max_lines is None:
        raise TextganError(f"{label} is not the One Billion Word archive: no held-out shards")


def _read_archive(reader: _SourceReader, train: _OrderedShards, heldout: _OrderedShards) -> None:
    """Stream the members into the shard writers; stop early once the training sink is full."""
    try:
        # GzipFile, not tarfile's "r|gz": it reports a cut-short stream and checks the CRC.
        with (
            gzip.GzipFile(fileobj=reader, mode="rb") as gz,
            tarfile.open(fileobj=gz, mode="r|") as tar,
        ):
            for member in tar:
                shard = _shard_of(member)
                if shard is not None:
                    shards = train if shard[0] == "train" else heldout
                    shards.add(shard[1], member.name, tar.extractfile(member))
                if train.sink.full:
                    return
            while gz.read(CHUNK):  # read to the gzip trailer so its CRC and length are checked
                pass
    except gzip.BadGzipFile as e:
        raise TextganError(
            f"{reader.label} is not a gzip file (expected the .tar.gz archive)"
        ) from e
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise TextganError(f"{reader.label} is truncated or corrupt: {e}") from e


def _shard_of(member: tarfile.TarInfo) -> tuple[str, int] | None:
    """("train", 1..99) or ("heldout", 0..49) for a shard member, None for anything else."""
    name = member.name.removeprefix("./")
    for kind, pattern, indices in (
        ("train", _TRAIN, range(1, 100)),
        ("heldout", _HELDOUT, range(50)),
    ):
        match = pattern.fullmatch(name)
        if match and member.isfile() and int(match.group(1)) in indices:
            return kind, int(match.group(1))
    return None


def _member_lines(f: IO[bytes], name: str, limit: int | None) -> Iterator[bytes]:
    """The member's lines, checked to be UTF-8 and each ending with a newline."""
    for number, line in enumerate(islice(f, limit), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise TextganError(f"{name}: line {number} is not valid UTF-8 (byte {e.start})") from e
        yield line if line.endswith(b"\n") else line + b"\n"


@contextmanager
def _open_source(source: str) -> Iterator[tuple[BinaryIO, int | None]]:
    if is_url(source):
        with open_url(source) as response:
            length = response.headers.get("Content-Length")
            yield response, int(length) if length else None
        return
    path = Path(source)
    if path.is_dir():
        raise TextganError(f"{path} is a directory, not the .tar.gz archive")
    try:
        f = path.open("rb")
    except FileNotFoundError as e:
        raise TextganError(f"no such file: {path}") from e
    except OSError as e:
        raise TextganError(f"cannot read {path}: {e.strerror}") from e
    with f:
        yield f, os.fstat(f.fileno()).st_size


def _fetch(url: str, out_dir: Path, on_progress: _OnProgress) -> tuple[str, bool]:
    """Download `url` into out_dir, resuming a .part; reuse a finished one. (path, downloaded)"""
    dest = out_dir / (PurePosixPath(urllib.parse.urlparse(url).path).name or "billion_words.tar.gz")
    if dest.is_file():
        return str(dest), False
    meters: list[_Meter] = []

    def on_bytes(done: int, total: int | None) -> None:
        if not meters:
            meters.append(_Meter(on_progress, "download", total, done))
        meters[0].advance(done - meters[0].done)

    download(url, dest, on_bytes)
    meters[0].report()
    return str(dest), True


def _write_error(e: OSError, out_dir: Path) -> TextganError:
    if e.errno == errno.ENOSPC:
        return TextganError(f"the disk is full: cannot write to {out_dir}")
    return TextganError(f"cannot write to {out_dir}: {e.strerror or e}")
