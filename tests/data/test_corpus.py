import os
import random
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from conftest import make_lines
from typer.testing import CliRunner

from textgan.cli.app import app
from textgan.config import TrainConfig
from textgan.data import cache, reading, scan
from textgan.data.corpus import EncodedCorpus, encode_corpus
from textgan.data.reading import read_lines
from textgan.data.vocab import train_vocab
from textgan.errors import TextganError

SETTINGS = {"seq_len": 16, "max_vocab": 2048, "holdout": 20, "seed": 0}
TINY = ["--dim", "8", "--n-blocks", "1", "--seq-len", "16", "--batch-size", "16",
        "--critic-iters", "2", "--device", "cpu", "--eval-every", "0"]  # fmt: skip


def encode(path: Path, **changes) -> EncodedCorpus:
    settings = SETTINGS | changes
    return encode_corpus(path, settings.pop("seq_len"), settings.pop("max_vocab"), **settings)


def assert_same(a: EncodedCorpus, b: EncodedCorpus) -> None:
    assert a.vocab.model_proto == b.vocab.model_proto
    assert np.array_equal(a.ids, b.ids) and a.ids.dtype == b.ids.dtype
    assert np.array_equal(a.heldout_ids, b.heldout_ids)
    assert a.split.train == b.split.train and a.split.heldout == b.split.heldout
    assert a.split.heldout_source == b.split.heldout_source


def test_the_first_load_builds_the_cache_and_the_second_uses_it(tiny_corpus: Path) -> None:
    first = encode(tiny_corpus)
    assert not first.cached and first.cache_dir is not None
    assert first.cache_dir.parent == tiny_corpus.with_name("tiny.txt.textgan")
    second = encode(tiny_corpus)
    assert second.cached and second.cache_dir == first.cache_dir
    assert isinstance(second.ids, np.memmap) and not second.ids.flags.writeable
    assert_same(first, second)
    assert_same(second, encode(tiny_corpus, use_cache=False))


def test_a_heldout_file_is_part_of_the_key(tiny_corpus: Path, tmp_path: Path) -> None:
    heldout = tmp_path / "other.txt"
    heldout.write_text("\n".join(make_lines(30, seed=5)) + "\n")
    first = encode(tiny_corpus, heldout=heldout)
    assert (
        first.split.heldout == read_lines(heldout) and encode(tiny_corpus, heldout=heldout).cached
    )
    heldout.write_text("\n".join(make_lines(31, seed=6)) + "\n")
    again = encode(tiny_corpus, heldout=heldout)
    assert not again.cached and again.split.heldout == read_lines(heldout)


@pytest.mark.parametrize("change", ["content", "size", "mtime"])
def test_a_changed_corpus_is_rebuilt(tiny_corpus: Path, change: str) -> None:
    first = encode(tiny_corpus)
    stat = tiny_corpus.stat()
    if change == "mtime":
        os.utime(tiny_corpus, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    else:
        text = tiny_corpus.read_text()
        new = text.replace("the", "teh", 1) if change == "content" else text + "one more line\n"
        tiny_corpus.write_text(new)
        if change == "content":  # same size, same mtime: only the content hash differs
            os.utime(tiny_corpus, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    rebuilt = encode(tiny_corpus)
    assert not rebuilt.cached and rebuilt.cache_dir != first.cache_dir
    assert_same(rebuilt, encode(tiny_corpus, use_cache=False))


@pytest.mark.parametrize(
    "change",
    [{"seq_len": 12}, {"max_vocab": 10}, {"holdout": 25}, {"seed": 1}, {"max_lines": 200}],
)
def test_changed_settings_are_rebuilt(tiny_corpus: Path, change: dict) -> None:
    first = encode(tiny_corpus)
    changed = encode(tiny_corpus, **change)
    assert not changed.cached and changed.cache_dir != first.cache_dir
    assert encode(tiny_corpus, **change).cached
    assert encode(tiny_corpus).cached


def truncate_ids(directory: Path) -> None:
    path = directory / "ids.npy"
    path.write_bytes(path.read_bytes()[:-7])


def flip_a_byte(directory: Path) -> None:
    path = directory / "ids.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))


def corrupt_checksum(directory: Path) -> None:
    path = directory / cache.MANIFEST
    text = path.read_text()
    digest = text.split('"blake2b": "')[1][:8]
    path.write_text(text.replace(digest, "00000000", 1))


def wrong_shape(directory: Path) -> None:
    path = directory / "heldout_ids.npy"
    with path.open("r+b") as f:  # the header's shape, same file size: caught by the hash
        header = f.read(128)
        assert b"(20, 16)" in header
        header = header.replace(b"(20, 16)", b"(16, 20)")
        f.seek(0)
        f.write(header)


@pytest.mark.parametrize(
    "damage",
    [
        truncate_ids,
        flip_a_byte,
        corrupt_checksum,
        wrong_shape,
        lambda d: (d / cache.MANIFEST).unlink(),
        lambda d: (d / "aside.npy").unlink(),
        lambda d: (d / cache.MANIFEST).write_text("{not json"),
    ],
)
def test_a_damaged_cache_is_rebuilt_not_trusted(tiny_corpus: Path, damage) -> None:
    fresh = encode(tiny_corpus, use_cache=False)
    damage(encode(tiny_corpus).cache_dir)
    rebuilt = encode(tiny_corpus)
    assert not rebuilt.cached
    assert_same(rebuilt, fresh)
    assert encode(tiny_corpus).cached


def test_an_unwritable_cache_location_means_no_cache(tiny_corpus: Path) -> None:
    tiny_corpus.with_name("tiny.txt.textgan").write_text("in the way")
    for _ in range(2):
        encoded = encode(tiny_corpus)
        assert not encoded.cached and encoded.cache_dir is None
    assert_same(encoded, encode(tiny_corpus, use_cache=False))


def test_a_read_only_directory_means_no_cache(tiny_corpus: Path) -> None:
    tiny_corpus.parent.chmod(0o555)  # no write bit: read-only even to root
    try:
        encoded = encode(tiny_corpus)
    finally:
        tiny_corpus.parent.chmod(0o755)
    assert not encoded.cached and encoded.cache_dir is None
    assert not tiny_corpus.with_name("tiny.txt.textgan").exists()


def test_a_failed_write_leaves_no_trusted_cache(tiny_corpus: Path, monkeypatch) -> None:
    def disk_full(*args, **kwargs) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(np, "save", disk_full)
        encoded = encode(tiny_corpus)
    assert encoded.cache_dir is None
    assert not encode(tiny_corpus).cached and encode(tiny_corpus).cached


def test_a_given_vocabulary_is_the_one_used(tiny_corpus: Path) -> None:
    own = encode(tiny_corpus)
    assert encode(tiny_corpus, vocab=own.vocab).cached  # the corpus's own cache: same vocabulary
    other = train_vocab(["the cat sat on a mat"], 2048)
    with pytest.raises(TextganError, match="characters differ"):
        encode(tiny_corpus, vocab=other)  # resuming a run on other text
    given = encode(tiny_corpus, vocab=other, other_text=True)
    assert not given.cached and given.vocab is other
    assert np.array_equal(given.ids, other.encode_lines(own.split.train, 16))
    again = encode(tiny_corpus, vocab=other, other_text=True)
    assert again.cached and again.cache_dir == given.cache_dir != own.cache_dir
    assert np.array_equal(again.ids, given.ids) and again.vocab is other


def test_cached_lines_are_read_when_asked_for(tiny_corpus: Path) -> None:
    encode(tiny_corpus)
    cached = encode(tiny_corpus)
    assert not cached.split._heldout  # nothing read yet
    assert len(cached.split.train) == len(cached.ids)
    changed = encode(tiny_corpus)
    tiny_corpus.write_text("only\none line left\n" * 3)
    with pytest.raises(TextganError, match="changed while in use"):
        changed.split.train  # noqa: B018


def test_max_lines_takes_exactly_the_first_non_blank_lines(tmp_path: Path) -> None:
    lines = make_lines(400)
    path = tmp_path / "blanks.txt"
    path.write_text(
        "".join(f"{line}\n\n \n" if i % 3 == 0 else f"{line}\n" for i, line in enumerate(lines))
    )
    assert read_lines(path, 250) == lines[:250]
    assert read_lines(path, 10_000) == lines
    heldout = tmp_path / "held.txt"
    heldout.write_text("the cat\n")
    encoded = encode(path, max_lines=250, heldout=heldout)
    assert encoded.split.train == lines[:250] and len(encoded.ids) == 250
    set_aside = encode(path, max_lines=250)
    assert len(set_aside.ids) + len(set_aside.heldout_ids) == 250
    assert set(set_aside.split.train + set_aside.split.heldout) <= set(lines[:250])


def test_max_lines_must_be_positive() -> None:
    with pytest.raises(TextganError, match="--max-lines"):
        TrainConfig(max_lines=0)
    assert TrainConfig(max_lines=5).max_lines == 5 and TrainConfig().max_lines is None


def test_the_cli_says_where_the_encoding_came_from(tiny_corpus: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    outputs = []
    for name in ("a", "b"):
        args = ["train", str(tiny_corpus), *TINY, "--iters", "1", "--run-dir", str(tmp_path / name)]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        outputs.append(" ".join(result.output.split()))
    assert "built and cached in" in outputs[0] and "from cache" not in outputs[0]
    assert "from cache" in outputs[1]
    bad = runner.invoke(app, ["train", str(tiny_corpus), "--max-lines", "0"])
    assert bad.exit_code == 2 and "--max-lines" in bad.stderr and "Traceback" not in bad.output


def mixed_lines(n: int) -> list[str]:
    """Lines with tabs, rare and astral characters, mid-line carriage returns, long lines."""
    extra = ["tab\tin it", "ünïcödé 😀 \u3000x", "a rare ☃", "cr\rmid", "x" * 40, "\u00a0lead"]
    lines = make_lines(n) + extra * 3
    random.Random(1).shuffle(lines)
    return lines


@pytest.mark.parametrize(
    ("read_block", "rows", "chunk", "changes"),
    [
        (64, 7, 1 << 26, {}),
        (1 << 20, 1 << 16, 1 << 26, {}),
        (200, 5, 100, {"max_vocab": 12}),  # chunks of 6 rows
        (64, 3, 1 << 26, {"seq_len": 5}),
        (1000, 9, 500, {"max_vocab": 400}),  # over 256 characters: uint16 chunks after uint8
    ],
)
def test_the_one_pass_encoding_is_the_lines_encoded_one_by_one(
    tmp_path: Path, monkeypatch, read_block: int, rows: int, chunk: int, changes: dict
) -> None:
    monkeypatch.setattr(reading, "READ_BLOCK", read_block)
    monkeypatch.setattr(scan, "ROWS_PER_BLOCK", rows)
    monkeypatch.setattr(scan, "CHUNK_BYTES", chunk)
    lines = mixed_lines(300)
    if changes.get("max_vocab") == 400:  # 300 more characters, a few new ones a line
        lines += ["".join(chr(0x4E00 + (3 * i + k) % 300) for k in range(5)) for i in range(300)]
    path = tmp_path / "mixed.txt"
    path.write_text("\n".join(lines) + "\n")
    encoded = encode(path, use_cache=False, **changes)
    seq_len, max_vocab = (SETTINGS | changes)["seq_len"], (SETTINGS | changes)["max_vocab"]
    train, heldout = encoded.split.train, encoded.split.heldout
    assert len(heldout) == 20 and sorted(train + heldout) == sorted(lines)
    vocab = train_vocab([line[:seq_len] for line in train], max_vocab)
    assert encoded.vocab.pieces == vocab.pieces
    assert np.array_equal(encoded.ids, vocab.encode_lines(train, seq_len))
    assert np.array_equal(encoded.heldout_ids, vocab.encode_lines(heldout, seq_len))
    assert encoded.ids.dtype == vocab.id_dtype


def test_a_first_load_never_holds_the_text_whole(tmp_path: Path, monkeypatch) -> None:
    """Read a block at a time, the text is kept as a byte per position (uint8 ids), not as
    Python strings of every line: the peak is far below what the lines alone take."""
    monkeypatch.setattr(reading, "READ_BLOCK", 1 << 16)
    monkeypatch.setattr(scan, "ROWS_PER_BLOCK", 1 << 12)
    monkeypatch.setattr(scan, "CHUNK_BYTES", 1 << 20)  # tracemalloc counts untouched pages too
    lines = make_lines(300_000)
    path = tmp_path / "big.txt"
    path.write_text("\n".join(lines) + "\n")
    as_strings = sum(sys.getsizeof(line) for line in lines) + 8 * len(lines)  # about 25 MB
    del lines
    tracemalloc.start()
    try:
        encoded = encode(path, use_cache=False, seq_len=8)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert encoded.ids.shape == (299_980, 8) and encoded.ids.dtype == np.uint8
    assert peak < as_strings / 2
