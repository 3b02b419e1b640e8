from pathlib import Path

import pytest

from textgan.data import reading
from textgan.data.reading import read_lines
from textgan.errors import TextganError


def test_max_lines_reads_only_as_far_as_it_must(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(reading, "READ_BLOCK", 64)
    path = tmp_path / "bad_later.txt"
    path.write_bytes(("".join(f"line {i}\n" for i in range(100)) + "bad \xff\n").encode("latin-1"))
    assert read_lines(path, 5) == [f"line {i}" for i in range(5)]
    with pytest.raises(TextganError, match="line 101"):
        read_lines(path)


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 1 << 20])
def test_reading_in_blocks_gives_the_lines_of_the_whole_text(
    tmp_path: Path, monkeypatch, block: int
) -> None:
    monkeypatch.setattr(reading, "READ_BLOCK", block)
    text = "café naïve\r\n\r\n  \nx\n€5 \u3000 \n\t\n\nlast line, no newline"
    path = tmp_path / "mixed.txt"
    path.write_bytes(text.encode("utf-8"))
    expected = [line.rstrip("\r") for line in text.split("\n") if line.strip()]
    assert read_lines(path) == expected
    assert read_lines(path, 2) == expected[:2]
