"""Tests for the One Billion Word tarball import, on a tiny made-up archive and a local server."""

from __future__ import annotations

import errno
import io
import re
import socket
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from textgan.data import billion_words as bw
from textgan.errors import TextganError

TOP = "1-billion-word-language-modeling-benchmark-r13output"
TRAIN_DIR = f"{TOP}/training-monolingual.tokenized.shuffled"
HELDOUT_DIR = f"{TOP}/heldout-monolingual.tokenized.shuffled"
TARBALL = "1-billion-word-language-modeling-benchmark-r13output.tar.gz"


def train_shard(index: int) -> list[str]:
    return [f"made-up training sentence {index}.{j} about the café ." for j in range(1, 5)]


def heldout_shard(index: int) -> list[str]:
    return [f"invented held-out line {index}.{j} ." for j in range(1, 4)]


def add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def write_tarball(path: Path, members: list[tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members:
            add_member(tar, name, data)
    return path


def shard_bytes(lines: list[str], final_newline: bool = True) -> bytes:
    text = "\n".join(lines) + ("\n" if final_newline else "")
    return text.encode("utf-8")


@pytest.fixture
def tarball(tmp_path: Path) -> Path:
    """Training shards stored 3, 1, 2 (out of numeric order), then held-out shards 1, 0."""
    members = [(f"{TOP}/README", b"not a shard\n")]
    for i in (3, 1, 2):
        members.append(
            (f"{TRAIN_DIR}/news.en-{i:05d}-of-00100", shard_bytes(train_shard(i), i != 2))
        )
    for i in (1, 0):
        members.append(
            (f"{HELDOUT_DIR}/news.en.heldout-{i:05d}-of-00050", shard_bytes(heldout_shard(i)))
        )
    (tmp_path / "src").mkdir()
    return write_tarball(tmp_path / "src" / TARBALL, members)


def expected_train() -> str:
    return "".join(line + "\n" for i in (1, 2, 3) for line in train_shard(i))


def expected_heldout() -> str:
    return "".join(line + "\n" for i in (0, 1) for line in heldout_shard(i))


class TarballServer(ThreadingHTTPServer):
    payload: bytes = b""
    honour_range = True
    drop_after: int | None = None  # one-shot: close the connection after this many body bytes
    range_headers: list[str | None]


class TarballHandler(BaseHTTPRequestHandler):
    server: TarballServer

    def do_GET(self) -> None:
        srv = self.server
        srv.range_headers.append(self.headers.get("Range"))
        if self.path != f"/{TARBALL}":
            self.send_error(404)
            return
        start, match = 0, re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and srv.honour_range:
            start = int(match.group(1))
            self.send_response(206)
            self.send_header(
                "Content-Range", f"bytes {start}-{len(srv.payload) - 1}/{len(srv.payload)}"
            )
        else:
            self.send_response(200)
        body = srv.payload[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if srv.drop_after is not None:
            body, srv.drop_after = body[: srv.drop_after], None
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


@pytest.fixture
def server(tarball: Path) -> Iterator[TarballServer]:
    srv = TarballServer(("127.0.0.1", 0), TarballHandler)
    srv.payload, srv.range_headers = tarball.read_bytes(), []
    thread = threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def url_of(srv: TarballServer, name: str = TARBALL) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}/{name}"


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_local_path_writes_shards_in_numeric_order(tarball: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = bw.import_billion_words(str(tarball), out)
    assert read(out / "billion_words.txt") == expected_train()
    assert read(out / "billion_words_heldout.txt") == expected_heldout()
    assert (result.train_lines, result.heldout_lines) == (12, 6)
    assert (result.heldout_from_stream, result.downloaded) == (False, False)
    assert sorted(p.name for p in out.iterdir()) == [
        "billion_words.txt",
        "billion_words_heldout.txt",
    ]


def test_full_url_import_downloads_then_reuses(server: TarballServer, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = bw.import_billion_words(url_of(server), out)
    assert result.downloaded
    assert (out / TARBALL).read_bytes() == server.payload
    assert read(out / "billion_words.txt") == expected_train()
    assert read(out / "billion_words_heldout.txt") == expected_heldout()
    assert not bw.import_billion_words(url_of(server), out).downloaded
    assert len(server.range_headers) == 1


def test_interrupted_download_resumes(server: TarballServer, tmp_path: Path) -> None:
    out, cut = tmp_path / "out", len(server.payload) // 2
    server.drop_after = cut
    with pytest.raises(TextganError, match="run again to resume"):
        bw.import_billion_words(url_of(server), out)
    assert (out / f"{TARBALL}.part").stat().st_size == cut
    assert not (out / "billion_words.txt").exists()
    bw.import_billion_words(url_of(server), out)
    assert server.range_headers == [None, f"bytes={cut}-"]
    assert (out / TARBALL).read_bytes() == server.payload
    assert not (out / f"{TARBALL}.part").exists()
    assert read(out / "billion_words.txt") == expected_train()


def test_server_ignoring_range_restarts_cleanly(server: TarballServer, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / f"{TARBALL}.part").write_bytes(b"stale bytes from another attempt")
    server.honour_range = False
    bw.import_billion_words(url_of(server), out)
    assert server.range_headers[0] is not None
    assert (out / TARBALL).read_bytes() == server.payload
    assert read(out / "billion_words.txt") == expected_train()


def test_http_404_is_refused(server: TarballServer, tmp_path: Path) -> None:
    url = url_of(server, "missing.tar.gz")
    with pytest.raises(TextganError, match="HTTP 404") as info:
        bw.import_billion_words(url, tmp_path / "out")
    assert url in str(info.value) and "404" in str(info.value)


def test_connection_refused_names_url(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/{TARBALL}"
    with pytest.raises(TextganError, match=re.escape(url)):
        bw.import_billion_words(url, tmp_path / "out", max_lines=3)


def check_max_lines(out: Path, result: bw.ImportResult, n: int) -> None:
    train = read(out / "billion_words.txt").splitlines()
    heldout = read(out / "billion_words_heldout.txt").splitlines()
    assert train == expected_train().splitlines()[:n]
    assert heldout == expected_train().splitlines()[n : n + 2]
    assert not set(train) & set(heldout)
    assert (result.train_lines, result.heldout_lines, result.heldout_from_stream) == (n, 2, True)


def test_max_lines_from_path(tarball: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = bw.import_billion_words(str(tarball), out, max_lines=5, heldout_lines=2)
    check_max_lines(out, result, 5)
    assert sorted(p.name for p in out.iterdir()) == [
        "billion_words.txt",
        "billion_words_heldout.txt",
    ]


def test_max_lines_from_url_streams(server: TarballServer, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = bw.import_billion_words(url_of(server), out, max_lines=5, heldout_lines=2)
    check_max_lines(out, result, 5)
    assert not result.downloaded and not (out / TARBALL).exists()
    assert server.range_headers == [None]


def test_max_lines_past_training_uses_real_heldout(tarball: Path, tmp_path: Path) -> None:
    result = bw.import_billion_words(str(tarball), tmp_path / "out", max_lines=100)
    assert (result.train_lines, result.heldout_from_stream) == (12, False)
    assert read(result.heldout_path) == expected_heldout()


@pytest.mark.parametrize("max_lines", [0, -3])
def test_max_lines_must_be_positive(tarball: Path, tmp_path: Path, max_lines: int) -> None:
    with pytest.raises(TextganError, match="max_lines"):
        bw.import_billion_words(str(tarball), tmp_path / "out", max_lines=max_lines)


def assert_refused(source: Path | str, out: Path, match: str) -> None:
    """The import fails with `match`, and `out` holds only the pre-existing training file."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "billion_words.txt").write_bytes(b"previous corpus\n")
    with pytest.raises(TextganError, match=match):
        bw.import_billion_words(str(source), out)
    assert [p.name for p in out.iterdir()] == ["billion_words.txt"]
    assert (out / "billion_words.txt").read_bytes() == b"previous corpus\n"


def test_truncated_tarball_is_refused(tarball: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(tarball.read_bytes()[: tarball.stat().st_size // 2])
    assert_refused(cut, tmp_path / "out", "truncated or corrupt")


def test_cut_gzip_trailer_is_refused(tarball: Path, tmp_path: Path) -> None:
    """All tar members intact, but the gzip CRC and length are missing: still refused."""
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(tarball.read_bytes()[:-8])
    assert_refused(cut, tmp_path / "out", "truncated or corrupt")


def test_wrong_layout_is_refused(tmp_path: Path) -> None:
    other = write_tarball(tmp_path / "other.tar.gz", [("data/news.en-00001-of-00100", b"a\n")])
    assert_refused(other, tmp_path / "out", "not the One Billion Word archive")


def test_non_gzip_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain.tar.gz"
    plain.write_bytes(b"just some text, not gzip\n" * 10)
    assert_refused(plain, tmp_path / "out", "not a gzip file")


def test_missing_path_and_directory_are_refused(tmp_path: Path) -> None:
    assert_refused(tmp_path / "nope.tar.gz", tmp_path / "out", "no such file")
    assert_refused(tmp_path, tmp_path / "out2", "is a directory")


def test_non_utf8_names_member_and_line(tmp_path: Path) -> None:
    name = f"{TRAIN_DIR}/news.en-00001-of-00100"
    bad = write_tarball(tmp_path / "bad.tar.gz", [(name, b"fine line\nbad \xff\xfe line\n")])
    assert_refused(bad, tmp_path / "out", re.escape(name) + r".*line 2 is not valid UTF-8")


def test_full_disk_is_reported(tarball: Path, tmp_path: Path, monkeypatch) -> None:
    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(bw.os, "fsync", no_space)
    assert_refused(tarball, tmp_path / "out", "disk is full")


def test_progress_bytes_increase(server: TarballServer, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(bw, "PROGRESS_STEP_BYTES", 64)
    seen: list[bw.Progress] = []
    bw.import_billion_words(url_of(server), tmp_path / "out", on_progress=seen.append)
    for phase in ("download", "extract"):
        done = [p.done_bytes for p in seen if p.phase == phase]
        assert len(done) >= 3 and done == sorted(done) and done[-1] > done[0]
        assert all(p.total_bytes == len(server.payload) for p in seen if p.phase == phase)
    assert seen[-1].lines == 18


def test_cli_imports_then_trains_on_the_result(tarball: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from textgan.cli.app import app

    runner = CliRunner()
    out = tmp_path / "corpora"
    result = runner.invoke(
        app, ["corpus", "billion-words", "--source", str(tarball), "--out-dir", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert read(out / bw.TRAIN_NAME) == expected_train()
    assert "training lines" in result.stdout
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(tarball.read_bytes()[: tarball.stat().st_size // 2])
    bad = runner.invoke(
        app, ["corpus", "billion-words", "--source", str(cut), "--out-dir", str(out)]
    )
    assert bad.exit_code == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert read(out / bw.TRAIN_NAME) == expected_train()  # the good import is untouched
