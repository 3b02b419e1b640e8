"""Beyond one machine: two simulated nodes on localhost (`torchrun --nnodes 2 --node-rank 0|1`,
each in its own working directory, so they share no file but the corpus at the same path) train
and resume as one process on the concatenated batch, node 1 writing nothing; nodes with other
corpora stop, naming the node; a stopped worker ends the job within --dist-timeout; and a
`torchrun --max-restarts 1` job whose worker is killed resumes and ends as if uninterrupted."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from textgan import train
from textgan.config import TrainConfig
from textgan.rundir.checkpoint import load_checkpoint

sys.path.insert(0, str(Path(__file__).parent))
from ddp_worker import DDP_CONFIG
from test_distributed import TEARDOWN_ABORT, TORCHRUN, free_port

BATCH = 8
FAULT_WORKER = str(Path(__file__).parent / "fault_worker.py")
OPTIONS = ["--device", "cpu", "--precision", "fp32", "--dim", "8", "--n-blocks", "1",
           "--seq-len", "12", "--critic-iters", "2", "--g-ema", "0.9", "--lr", "0.0001",
           "--batch-size", str(BATCH), "--eval-samples", "16"]  # fmt: skip
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}


def start_nodes(args: list[str], root: Path) -> list[subprocess.Popen]:
    """torchrun on each of 2 nodes, node r in root/node{r} (its own session, to end it)."""
    port, procs = free_port(), []
    for rank in (0, 1):
        (root / f"node{rank}").mkdir(exist_ok=True)
        command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2",
                   "--node-rank", str(rank), "--nproc-per-node", "1", "--master-addr",
                   "127.0.0.1", "--master-port", str(port), *args]  # fmt: skip
        procs.append(subprocess.Popen(command, cwd=root / f"node{rank}", env=ENV, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      start_new_session=True))  # fmt: skip
    return procs


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    """(exit status, stdout + stderr); a node still running after timeout is killed."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=10)
    return proc.returncode, out + err


def run_nodes(args: list[str], root: Path) -> list[tuple[int, str]]:
    """Both nodes to their end; once more (what the first try wrote removed) when a process
    aborted in the C++ teardown of its gloo group (test_distributed.run_torchrun says why)."""
    before = {path for path in root.rglob("*")}
    results = [finish(proc) for proc in start_nodes(args, root)]
    if any(code and TEARDOWN_ABORT in output for code, output in results):
        for written in sorted(set(root.rglob("*")) - before, reverse=True):
            written.rmdir() if written.is_dir() else written.unlink()
        results = [finish(proc) for proc in start_nodes(args, root)]
    return results


def single_process(corpus: Path, iters: int, run_dir: Path) -> dict:
    """The weights of one process trained on the concatenated batch (2 × BATCH)."""
    config = TrainConfig(batch_size=2 * BATCH, iters=iters, **DDP_CONFIG)
    return load_checkpoint(train(config, corpus, run_dir).checkpoint)


def assert_same_weights(saved, single) -> None:
    for net in ("generator", "critic", "generator_ema"):
        for key, value in single[net].items():
            torch.testing.assert_close(saved[net][key], value, rtol=1e-4, atol=1e-6)


def test_two_nodes_train_and_resume_as_one_process_and_node_1_writes_nothing(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    base = ["-m", "textgan", "train", str(tiny_corpus), "--run-dir", "runs/mn", *OPTIONS]
    fresh = run_nodes([*base, "--iters", "3", "--eval-every", "3"], tmp_path)
    assert [code for code, _ in fresh] == [0, 0], fresh
    resumed = run_nodes([*base, "--iters", "5", "--resume"], tmp_path)
    assert [code for code, _ in resumed] == [0, 0], resumed
    assert "done: 5 iterations, checkpoint runs/mn/ckpt-0000005.pt" in resumed[1][1]
    assert not (tmp_path / "node1" / "runs").exists()  # rank 0 alone reads and writes the run
    saved = load_checkpoint(tmp_path / "node0" / "runs" / "mn" / "ckpt-0000005.pt")
    assert_same_weights(saved, single_process(tiny_corpus, 5, tmp_path / "single"))


def test_nodes_with_different_corpora_stop_with_one_line_naming_the_node(tmp_path: Path) -> None:
    from conftest import make_lines

    for rank, seed in ((0, 0), (1, 1)):  # the same path, another text
        (tmp_path / f"node{rank}").mkdir()
        text = "\n".join(make_lines(300, seed=seed)) + "\n"
        (tmp_path / f"node{rank}" / "c.txt").write_text(text)
    results = run_nodes(["-m", "textgan", "train", "c.txt", "--iters", "2", *OPTIONS], tmp_path)
    line = "error: node 1's corpus or held-out text differs from node 0's"
    for code, output in results:
        assert code != 0 and line in output, output


def test_a_stopped_worker_ends_the_job_within_dist_timeout(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    """Node 1's worker stops (SIGSTOP) after its second iteration: node 0's waits for it in
    a collective, and gives up after --dist-timeout, with one line."""
    args = [FAULT_WORKER, "stop", "1", "2", "train", str(tiny_corpus), "--run-dir", "run",
            "--iters", "1000", "--eval-every", "0", "--dist-timeout", "3", *OPTIONS]  # fmt: skip
    node0, node1 = start_nodes(args, tmp_path)
    try:
        started = time.monotonic()
        code, output = finish(node0, timeout=60)
        waited = time.monotonic() - started
    finally:
        stopped = tmp_path / "node1" / "stop.pid"
        if stopped.exists():
            os.kill(int(stopped.read_text()), signal.SIGKILL)
        finish(node1, timeout=10)
    assert code != 0 and waited < 45, (waited, output)
    assert "did not answer within --dist-timeout 3 s" in output, output


def test_an_elastic_restart_resumes_the_run_to_its_planned_iterations(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    """torchrun --max-restarts 1, rank 1 killed after iteration 4 (the newest checkpoint: 2):
    the restarted workers resume from it, and the run ends as an uninterrupted one would."""
    args = ["--max-restarts", "1", FAULT_WORKER, "kill", "1", "4", "train", str(tiny_corpus),
            "--run-dir", "run", "--iters", "6", "--checkpoint-every", "2", "--eval-every", "1",
            *OPTIONS]  # fmt: skip
    result = subprocess.run([*TORCHRUN, *args], cwd=tmp_path, env=ENV, capture_output=True,
                            text=True, timeout=240)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "kill.pid").exists()  # the first attempt's rank 1 was killed
    records = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["iteration"] for line in records] == [1, 2, 3, 4, 5, 6]
    saved = load_checkpoint(tmp_path / "run" / "ckpt-0000006.pt")
    assert_same_weights(saved, single_process(tiny_corpus, 6, tmp_path / "single"))
