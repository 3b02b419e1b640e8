"""Runs survive kill -9, Ctrl-C and SIGTERM; bad input never crashes or damages anything;
checkpoints are pruned safely. The kill tests drive `python -m textgan train` in a subprocess."""

import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from conftest import assert_one_line_error, make_lines, tree_hash
from typer.testing import CliRunner

from textgan.cli.app import app
from textgan.data.corpus import encode_corpus
from textgan.data.vocab import Vocab
from textgan.rundir.checkpoint import (
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
)

runner = CliRunner()
TINY = ["--dim", "8", "--n-blocks", "1", "--seq-len", "16", "--batch-size", "16",
        "--critic-iters", "1", "--eval-every", "0", "--device", "cpu"]  # fmt: skip
START_ITERATION = re.compile(r"start iteration\s*│\s*(\d+)")
SLOW_SAVES = Path(__file__).with_name("slow_saves.py")  # the CLI, each checkpoint write slowed


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def iterations(run_dir: Path) -> list[int]:
    return [int(p.stem.removeprefix("ckpt-")) for p in list_checkpoints(run_dir)]


# ---------------------------------------------------------------- training in a subprocess


@pytest.fixture
def start_training(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start `python -m textgan train` (stderr to a file); every process is gone at teardown."""
    started: list[subprocess.Popen] = []

    def start(corpus: Path, run_dir: Path, *args: str, save_delay: float = 0) -> subprocess.Popen:
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        stderr = (tmp_path / f"stderr-{len(started)}.txt").open("w")
        textgan = [str(SLOW_SAVES), str(save_delay)] if save_delay else ["-m", "textgan"]
        command = [sys.executable, *textgan, "train", str(corpus), *TINY,
                   "--checkpoint-every", "2", "--run-dir", str(run_dir), *args]  # fmt: skip
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
        proc.stderr_path = Path(stderr.name)  # type: ignore[attr-defined]
        stderr.close()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def wait_for(condition: Callable[[], object], proc: subprocess.Popen, timeout: float = 40):
    """Poll until condition() is truthy; fail if the run ends or takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := condition():
            return found
        if proc.poll() is not None:
            stderr = proc.stderr_path.read_text()  # type: ignore[attr-defined]
            pytest.fail(f"training ended early (exit {proc.returncode}): {stderr}")
        time.sleep(0.01)
    pytest.fail(f"timed out after {timeout} s")


def temp_files(run_dir: Path) -> list[Path]:
    return sorted(run_dir.glob(".ckpt-*.tmp"))


def kill_9(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


def assert_consistent(run_dir: Path) -> int:
    """After a kill: every listed checkpoint is whole and named for its iteration; none is a
    temp file. Returns the newest iteration (0: none yet)."""
    for path in list_checkpoints(run_dir):
        assert not path.name.endswith(".tmp")
        assert load_checkpoint(path)["iteration"] == int(path.stem.removeprefix("ckpt-"))
    if not list_checkpoints(run_dir):
        return 0
    return load_checkpoint(latest_checkpoint(run_dir))["iteration"]


@pytest.mark.slow
def test_kill_9_at_any_moment_leaves_a_resumable_run(
    tiny_corpus: Path, tmp_path: Path, start_training
) -> None:
    run = tmp_path / "run"

    def resume_or_start(**kwargs) -> subprocess.Popen:
        resume = (
            ["--resume", "--iters", "100000"] if list_checkpoints(run) else ["--iters", "100000"]
        )
        return start_training(tiny_corpus, run, *resume, **kwargs)

    # 1. as soon as the run dir exists: before, or right around, the first checkpoint
    proc = resume_or_start()
    wait_for(lambda: (run / "config.json").exists(), proc)
    kill_9(proc)
    assert_consistent(run)

    # 2. once at least two checkpoints exist
    proc = resume_or_start()
    wait_for(lambda: len(list_checkpoints(run)) >= 2, proc)
    kill_9(proc)
    newest = assert_consistent(run)
    assert newest >= 2

    # 3. while a checkpoint is being written (the write sleeps before its rename)
    proc = resume_or_start(save_delay=2)
    left = temp_files(run)  # a kill above may have hit a write too
    tmp = wait_for(lambda: [p for p in temp_files(run) if p not in left], proc)[0]
    kill_9(proc)
    assert tmp.exists() and tmp.name.startswith(f".ckpt-{newest + 2:07d}.pt.")  # resumed
    assert assert_consistent(run) == newest  # the half-written one is not a checkpoint

    # 4. right after the resumed run wrote its first checkpoint
    proc = resume_or_start()
    wait_for(lambda: max(iterations(run)) > newest, proc)
    kill_9(proc)
    newest = assert_consistent(run)

    # 5. during start-up, before the resumed run does anything
    proc = resume_or_start()
    time.sleep(0.5)
    kill_9(proc)
    assert assert_consistent(run) == newest

    before = list_checkpoints(run)[-1].read_bytes()
    result = invoke("train", tiny_corpus, "--resume", "--run-dir", run, "--iters", newest + 2)
    assert result.exit_code == 0, result.output
    assert START_ITERATION.search(result.stdout).group(1) == str(newest)
    assert f"done: {newest + 2} iterations" in result.stdout
    assert iterations(run)[-2:] == [newest, newest + 2] and len(iterations(run)) <= 3
    assert checkpoint_path(run, newest).read_bytes() == before
    assert load_checkpoint(latest_checkpoint(run))["iteration"] == newest + 2
    assert temp_files(run) == []  # the killed write's leftover was cleaned up


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_stop_with_a_checkpoint(
    signum: int, tiny_corpus: Path, tmp_path: Path, start_training
) -> None:
    run = tmp_path / "run"
    proc = start_training(tiny_corpus, run, "--iters", "100000")
    wait_for(lambda: list_checkpoints(run), proc)  # at least two iterations ran
    proc.send_signal(signum)
    assert proc.wait(timeout=60) == 128 + signum
    lines = proc.stderr_path.read_text().strip().splitlines()
    assert len(lines) == 1, lines
    name = signal.Signals(signum).name
    found = re.fullmatch(rf"error: stopped by {name} at iteration (\d+); checkpoint (\S+) "
                         r"written \(continue with --resume\)", lines[0])  # fmt: skip
    assert found, lines[0]
    stopped = int(found.group(1))
    assert Path(found.group(2)) == latest_checkpoint(run) == checkpoint_path(run, stopped)
    assert load_checkpoint(latest_checkpoint(run))["iteration"] == stopped
    status = json.loads((run / "status.json").read_text())  # why it stopped, for textgan runs
    assert (status["status"], status["reason"], status["signal"]) == ("stopped", "signal", name)
    assert (status["iteration"], status["checkpoint"]) == (stopped, Path(found.group(2)).name)

    result = invoke("train", tiny_corpus, "--resume", "--run-dir", run, "--iters", stopped + 1)
    assert result.exit_code == 0, result.output
    assert START_ITERATION.search(result.stdout).group(1) == str(stopped)
    assert iterations(run)[-2:] == [stopped, stopped + 1]
    status = json.loads((run / "status.json").read_text())
    assert (status["status"], status["reason"], status["iteration"]) == (
        "finished",
        "iters",
        stopped + 1,
    )


def test_a_diverging_run_stops_at_the_iteration_and_keeps_its_checkpoint(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    args = ["train", tiny_corpus, *TINY, "--lr", "1e38", "--checkpoint-every", "1"]
    assert_one_line_error(invoke(*args, "--iters", "5", "--run-dir", run), "iteration 2")
    assert iterations(run) == [1]  # the last good one
    stopped = json.loads((run / "status.json").read_text())
    assert (stopped["status"], stopped["reason"], stopped["iteration"]) == ("stopped", "nan", 2)
    assert stopped["checkpoint"] == "ckpt-0000001.pt"
    (run / "status.json").unlink()  # it says when, which differs between the two
    before = tree_hash(run)
    resumed = invoke("train", tiny_corpus, "--resume", "--run-dir", run, "--iters", "5")
    assert_one_line_error(resumed, "non-finite loss at iteration 2")  # deterministic
    again = json.loads((run / "status.json").read_text())
    clocks = ("time", "seconds")
    assert {k: v for k, v in again.items() if k not in clocks} == {
        k: v for k, v in stopped.items() if k not in clocks
    }
    (run / "status.json").unlink()
    assert tree_hash(run) == before
    assert load_checkpoint(latest_checkpoint(run))["iteration"] == 1


# ---------------------------------------------------------------- bad input


class _Exploit:
    """A pickle that touches a file when loaded unsafely."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.touch, (self.target,))


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny corpus, a 2-iteration run `r`, and broken files of every kind (built once)."""
    root = tmp_path_factory.mktemp("template")
    lines = make_lines(300)
    (root / "tiny.txt").write_text("\n".join(lines) + "\n")
    assert invoke("train", root / "tiny.txt", *TINY, "--iters", "2", "--run-dir", root / "r",
                  "--checkpoint-every", "2").exit_code == 0  # fmt: skip
    good = root / "r" / "ckpt-0000002.pt"
    saved = load_checkpoint(good)
    (root / "blank.txt").write_text("\n   \n\t\n\n")
    (root / "binary.txt").write_bytes(b"\x7fELF\x00\x01\x02" * 200)
    (root / "cut.txt").write_bytes(b"fine\n\xe2\x82")  # a character cut off at the end
    (root / "other_lines.txt").write_text("\n".join(make_lines(200, seed=5)) + "\n")
    (root / "other_chars.txt").write_text("\n".join(line.upper() for line in lines) + "\n")
    # a failed resume on other_lines.txt would cache its encoding beside it first: harmless,
    # but this fixture makes that cache exist so a tree hash shows only real damage
    encode_corpus(root / "other_lines.txt", 16, 2048, vocab=Vocab(saved["vocab"]), other_text=True)
    (root / "afile").write_text("a regular file\n")
    (root / "truncated.pt").write_bytes(good.read_bytes()[:1000])
    torch.save({"weights": torch.zeros(2)}, root / "foreign.pt")
    torch.save({**saved.to_payload(), "format_version": 999}, root / "future.pt")
    for name, broken in (("r_truncated", "truncated.pt"), ("r_future", "future.pt")):
        shutil.copytree(root / "r", root / name)
        shutil.copy2(root / broken, root / name / "ckpt-0000004.pt")  # newest is broken
    return root


NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
CKPT = "r/ckpt-0000002.pt"
RESUME = ["--resume", "--run-dir", "r", "--iters", "4"]
BAD_INPUTS = [
    (["train", "blank.txt"], ["no text lines"]),
    (["train", "binary.txt"], ["binary file"]),
    (["train", "cut.txt"], ["not UTF-8", "line 2"]),
    (["train", "tiny.txt", "--critic-iters", "0"], ["--critic-iters"]),
    (["train", "tiny.txt", "--batch-size", "-4"], ["--batch-size"]),
    (["train", "tiny.txt", *TINY, "--batch-size", "1000"], ["fewer than --batch-size"]),
    (["train", "tiny.txt", "--checkpoint-every", "0"], ["--checkpoint-every"]),
    (["train", "tiny.txt", "--eval-every", "-1"], ["--eval-every"]),
    (["train", "tiny.txt", "--lr", "nan"], ["--lr"]),
    (["train", "tiny.txt", "--max-vocab", "2"], ["--max-vocab"]),
    (["train", "tiny.txt", "--max-lines", "0"], ["--max-lines"]),
    (["train", "tiny.txt", "--precision", "fp8"], ["--precision", "auto, fp32, tf32, bf16"]),
    (["train", "tiny.txt", "--conv", "fft"], ["--conv"]),
    (["train", "tiny.txt", "--conv", "winograd", "--seq-len", "30"], ["--seq-len", "of 4"]),
    (["train", "tiny.txt", "--keep", "0"], ["--keep"]),
    (["train", "tiny.txt", "--keep", "-1"], ["--keep"]),
    (["train", "tiny.txt", *TINY, "--run-dir", "afile/run"], ["cannot write to run dir"]),
    (["train", "tiny.txt", *TINY, "--run-dir", "afile"], ["cannot write to run dir"]),
    (["train", "tiny.txt", *TINY, "--run-dir", "r"], ["already holds a run", "--resume"]),
    (["train", "tiny.txt", *RESUME, "--seq-len", "8"], ["--seq-len"]),
    (["train", "tiny.txt", *RESUME, "--n-blocks", "2"], ["--n-blocks"]),
    (["train", "tiny.txt", *RESUME, "--batch-size", "8"], ["--batch-size"]),
    (["train", "tiny.txt", *RESUME, "--iters", "0"], ["--iters"]),
    (["train", "other_lines.txt", *RESUME], ["180 lines", "same corpus"]),
    (["train", "other_chars.txt", *RESUME], ["characters differ"]),
    (["train", "tiny.txt", "--resume", "--run-dir", "r_truncated"], ["truncated or corrupt"]),
    (["train", "tiny.txt", "--resume", "--run-dir", "r_future"], ["another textgan version"]),
    (["train", "tiny.txt", "--resume", "--run-dir", "afile"], ["no checkpoint"]),
    (["sample", "-n", "-3", "--checkpoint", CKPT], ["-n"]),
    (["sample", "--checkpoint", "truncated.pt"], ["truncated or corrupt"]),
    (["sample", "--checkpoint", "foreign.pt"], ["not a textgan checkpoint"]),
    (["sample", "--checkpoint", "future.pt"], ["another textgan version", "format 999"]),
    (["sample", "--checkpoint", "missing.pt"], ["does not exist"]),
    (["sample", "--checkpoint", "tiny.txt"], ["not a readable checkpoint"]),
    (["sample", "--run-dir", "r_truncated"], ["truncated or corrupt"]),
    (["sample", "--checkpoint", CKPT, "--temperature", "-1"], ["--temperature"]),
    (["sample", "--checkpoint", CKPT, "--device", "tpu"], ["--device"]),
    pytest.param(["sample", "--checkpoint", CKPT, "--device", "cuda"], ["CUDA"], marks=NO_CUDA),
    (["sample", "--checkpoint", CKPT, "--out", "afile/lines.txt"], ["cannot write"]),
    (["eval", "--checkpoint", "future.pt"], ["another textgan version"]),
    (["eval", "--checkpoint", CKPT, "-n", "0"], ["-n"]),
    (["eval", "--checkpoint", CKPT, "--corpus", "binary.txt"], ["binary file"]),
    (["eval", "--checkpoint", CKPT, "--corpus", "blank.txt"], ["no text lines"]),
    (["plot", "--run-dir", "r", "--out", "curves.png"], ["no metrics.jsonl"]),
]


@pytest.mark.parametrize(("args", "fragments"), BAD_INPUTS)
def test_bad_input_is_one_line_exit_2_and_damages_nothing(
    args: list[str], fragments: list[str], template: Path, tmp_path: Path, monkeypatch
) -> None:
    work = tmp_path / "work"
    shutil.copytree(template, work)  # copy2 keeps mtimes: the corpus caches stay valid
    monkeypatch.chdir(work)
    before = tree_hash(work)
    assert_one_line_error(invoke(*args), *fragments)
    assert tree_hash(work) == before


def test_an_unwritable_run_dir_is_refused(template: Path, tmp_path: Path, monkeypatch) -> None:
    if os.geteuid() == 0:
        pytest.skip("running as root, which chmod cannot stop from writing; "
                    "the 'afile/run' bad-input case covers an unwritable run dir")  # fmt: skip
    work = tmp_path / "work"
    shutil.copytree(template, work)
    monkeypatch.chdir(work)
    (work / "locked").mkdir(mode=0o500)
    before = tree_hash(work)
    result = invoke("train", "tiny.txt", *TINY, "--run-dir", "locked/run")
    assert_one_line_error(result, "cannot write to run dir", "Permission denied")
    assert tree_hash(work) == before


@pytest.mark.parametrize(
    "command",
    [
        ["sample", "--checkpoint", "evil.pt"],
        ["eval", "--checkpoint", "evil.pt"],
        ["train", "tiny.txt", "--resume", "--run-dir", "r"],
    ],
)
def test_an_untrusted_checkpoint_never_runs_code(
    command: list[str], template: Path, tmp_path: Path, monkeypatch
) -> None:
    work = tmp_path / "work"
    shutil.copytree(template, work)
    monkeypatch.chdir(work)
    pwned = work / "pwned"
    payload = {**load_checkpoint(template / CKPT).to_payload(), "generator": _Exploit(pwned)}
    torch.save(payload, work / "evil.pt", pickle_module=pickle)
    shutil.copy2(work / "evil.pt", work / "r" / "ckpt-0000004.pt")  # the run's newest
    before = tree_hash(work)
    assert_one_line_error(invoke(*command), "not a safe textgan checkpoint")
    assert not pwned.exists()
    assert tree_hash(work) == before


# ---------------------------------------------------------------- --keep


@pytest.mark.parametrize("keep", [1, 2])
def test_keep_leaves_the_newest_checkpoints(tiny_corpus: Path, tmp_path: Path, keep: int) -> None:
    run = tmp_path / "run"
    args = ["train", tiny_corpus, *TINY, "--checkpoint-every", "1", "--keep", keep]
    assert invoke(*args, "--iters", "5", "--run-dir", run).exit_code == 0
    assert iterations(run) == list(range(6 - keep, 6))  # the final one is the newest
    assert load_checkpoint(latest_checkpoint(run))["iteration"] == 5


def test_resuming_prunes_old_checkpoints_and_dead_writes_only(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    args = ["train", tiny_corpus, *TINY, "--checkpoint-every", "1", "--run-dir", run]
    assert invoke(*args, "--iters", "5", "--keep", "5").exit_code == 0
    assert iterations(run) == [1, 2, 3, 4, 5]
    dead = run / ".ckpt-0000006.pt.x1y2z3.tmp"  # what a kill -9 mid-write leaves
    dead.write_bytes(b"half a checkpoint")
    others = [run / "ckpt-0000001.pt.bak", run / "notes.txt", run / ".config.json.abc.tmp"]
    for path in others:
        path.write_text("not ours to delete")
    resumed = invoke("train", tiny_corpus, "--resume", "--run-dir", run, "--iters", "7",
                     "--keep", "2")  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    assert iterations(run) == [6, 7]
    assert not dead.exists() and all(path.exists() for path in others)


def test_a_checkpoint_that_cannot_be_pruned_does_not_stop_the_run(
    tiny_corpus: Path, tmp_path: Path, monkeypatch
) -> None:
    run = tmp_path / "run"
    real_unlink = Path.unlink

    def unlink(path: Path, missing_ok: bool = False) -> None:
        if path.name == "ckpt-0000001.pt":
            raise PermissionError(13, "Permission denied", str(path))
        real_unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    args = ["train", tiny_corpus, *TINY, "--checkpoint-every", "1", "--keep", "1"]
    result = invoke(*args, "--iters", "3", "--run-dir", run)
    assert result.exit_code == 0, result.output
    assert iterations(run) == [1, 3]  # the stuck one stays; the newest is never deleted
