"""The lines of a UTF-8 text file (strict UTF-8, one example per line, blank lines skipped), read
a block at a time so that a corpus of any size is never held whole."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO

from textgan.errors import TextganError

BILLION_WORDS_HINT = (
    "get it with `textgan corpus billion-words` (or `textgan corpus billion-words "
    "--max-lines 200000` for a quick start)"
)
READ_BLOCK = 1 << 23  # bytes read at a time: --max-lines N reads only as far as it must
BINARY_PROBE = 65536  # a NUL byte this early means a binary file


def line_blocks(path: str | Path, max_lines: int | None = None) -> Iterator[list[str]]:
    """The first max_lines (default: all) non-blank lines of the file, without their line
    endings, a block of lines at a time (about READ_BLOCK bytes each)."""
    path = Path(path)
    check_is_file(path)
    count = 0
    try:
        with path.open("rb") as f:
            for text in _decoded_blocks(f, path):
                lines = _non_blank(_split(text))
                if max_lines is not None:
                    del lines[max_lines - count :]
                if lines:
                    count += len(lines)
                    yield lines
                if count == max_lines:
                    break
    except OSError as err:
        raise TextganError(f"cannot read corpus {path}: {err.strerror or err}") from err
    if not count:
        raise TextganError(f"{path} has no text lines (it is empty or blank)")


def read_lines(path: str | Path, max_lines: int | None = None) -> list[str]:
    """All of line_blocks in one list: for files that fit in memory as Python strings."""
    return [line for block in line_blocks(path, max_lines) for line in block]


def check_is_file(path: Path) -> None:
    if not path.exists():
        hint = f"; {BILLION_WORDS_HINT}" if path.name == "billion_words.txt" else ""
        raise TextganError(f"corpus {path} does not exist{hint}")
    if path.is_dir():
        raise TextganError(f"corpus {path} is a directory, not a text file")


def _decoded_blocks(f: IO[bytes], path: Path) -> Iterator[str]:
    """The file's text in pieces that end at a line break (all but perhaps the last)."""
    line_no, pending = 1, b""
    while block := f.read(READ_BLOCK):
        if line_no == 1 and not pending and b"\x00" in block[:BINARY_PROBE]:
            raise TextganError(f"{path} looks like a binary file, not UTF-8 text")
        data = pending + block
        end = data.rfind(b"\n") + 1
        data, pending = data[:end], data[end:]
        if data:
            yield _decode(data, path, line_no)
            line_no += data.count(b"\n")
    if pending:
        yield _decode(pending, path, line_no)


def _decode(data: bytes, path: Path, first_line: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line_no = first_line + data.count(b"\n", 0, err.start)
        raise TextganError(
            f"{path} is not UTF-8 text: undecodable bytes on line {line_no}"
        ) from err


def _non_blank(lines: list[str]) -> list[str]:
    lines = list(filter(None, lines))
    return [line for line in lines if not line.isspace()] if any(map(str.isspace, lines)) else lines


def _split(text: str) -> list[str]:
    lines = text.split("\n")
    return [line.rstrip("\r") for line in lines] if "\r" in text else lines
