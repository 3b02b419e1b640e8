"""Processes under torchrun on CPUs (gloo): two train as one; rank 0 alone builds the corpus
cache and the evaluation while the others wait outside any collective; one process still joins
a group; on CUDA each process joins NCCL bound to its GPU (the calls checked, not run)."""

import datetime
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from textgan import train
from textgan.config import TrainConfig
from textgan.errors import TextganError
from textgan.rundir.checkpoint import load_checkpoint
from textgan.training import distributed, peers
from textgan.training.distributed import World, process_group
from textgan.training.leaders import main_first
from textgan.training.state import build_state
from textgan.training.steps import make_engine, train_iteration

sys.path.insert(0, str(Path(__file__).parent))
from ddp_worker import DDP_CONFIG

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
ITERS, BATCH = 3, 8


TEARDOWN_ABORT = "terminate called without an active exception"


def run_torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """torchrun on args; up to twice more if a rank aborted in the C++ teardown of its gloo
    group, which has happened about once in ten loaded runs, and in up to half of the --minutes
    worker's runs under pytest (an issue of the process group's shutdown, not of what the ranks
    computed: the tests read what they wrote before). A rerun starts as the first did: what
    the first wrote in cwd is removed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    before = set(cwd.iterdir())
    for attempt in range(3):
        if attempt:  # what the first attempt wrote goes
            for written in set(cwd.iterdir()) - before:
                shutil.rmtree(written) if written.is_dir() else written.unlink()
        result = subprocess.run(TORCHRUN + args, cwd=cwd, env=env, capture_output=True,
                                text=True, timeout=240)  # fmt: skip
        if result.returncode == 0 or TEARDOWN_ABORT not in result.stderr:
            break
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def ddp_weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    from conftest import make_lines

    root = tmp_path_factory.mktemp("ddp")
    corpus = root / "tiny.txt"
    corpus.write_text("\n".join(make_lines(300)) + "\n")
    worker = str(Path(__file__).parent / "ddp_worker.py")
    run_torchrun([worker, str(corpus), str(root), str(ITERS), str(BATCH)], root)
    ranks = [torch.load(root / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    return corpus, ranks[0], ranks[1]


def test_ranks_hold_identical_parameters(ddp_weights) -> None:
    _, rank0, rank1 = ddp_weights
    for net in ("generator", "critic", "generator_ema"):  # the generator's average too
        for key in rank0[net]:
            assert torch.equal(rank0[net][key], rank1[net][key]), (net, key)


def test_two_ranks_equal_one_process_on_the_concatenated_batch(ddp_weights) -> None:
    corpus, rank0, _ = ddp_weights
    config = TrainConfig(batch_size=2 * BATCH, iters=1000, **DDP_CONFIG)
    state, _ = build_state(config, corpus)
    initial = {k: v.clone() for k, v in state.critic.state_dict().items()}
    engine = make_engine(state)
    for _ in range(ITERS):
        train_iteration(state, engine)
    single = {"generator": state.generator.state_dict(), "critic": state.critic.state_dict(),
              "generator_ema": state.generator_ema.state_dict()}  # fmt: skip
    for net in ("generator", "critic", "generator_ema"):
        for key, value in single[net].items():
            torch.testing.assert_close(rank0[net][key], value, rtol=1e-4, atol=1e-6)
    # the comparison is between trained weights, not two initialisations; the two biases that
    # reach the score through linear maps only are constant offsets: they cancel in
    # D(fake) − D(real), the penalty does not see them, so their gradient is exactly zero
    moved = {k for k in initial if not torch.equal(initial[k], single["critic"][k])}
    assert moved == set(initial) - {"fc.bias", "blocks.0.conv2.bias"}


def test_torchrun_train_writes_one_run_dir(tiny_corpus: Path, tmp_path: Path) -> None:
    """Rank 0 alone writes the run dir: checkpoints, samples, status.json and (where the
    tensorboard package is installed) one TensorBoard events file."""
    args = ["-m", "textgan", "train", str(tiny_corpus), "--device", "cpu", "--dim", "8",
            "--n-blocks", "1", "--seq-len", "12", "--batch-size", "8", "--critic-iters", "1",
            "--iters", "3", "--checkpoint-every", "2", "--eval-every", "2"]  # fmt: skip
    tensorboard = importlib.util.find_spec("tensorboard") is not None
    result = run_torchrun(args + ["--tensorboard"] * tensorboard, tmp_path)
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1, runs
    assert sorted(p.name for p in runs[0].glob("ckpt-*.pt")) == [
        "ckpt-0000002.pt",
        "ckpt-0000003.pt",
    ]
    assert [line.split()[-1] for line in (runs[0] / "samples.txt").read_text().splitlines()
            if line.startswith("# iteration")] == ["2", "3"]  # fmt: skip
    assert "batch 16 in all" in result.stdout
    status = json.loads((runs[0] / "status.json").read_text())
    assert (status["status"], status["iteration"]) == ("finished", 3)
    if tensorboard:
        assert len(list((runs[0] / "tb").iterdir())) == 1  # rank 0's events file alone


def test_rank_0_alone_builds_the_cache_and_the_evaluation_while_no_rank_waits_in_a_collective(
    tmp_path: Path,
) -> None:
    """Rank 1 takes the corpus from the cache rank 0 wrote, having waited for its manifest on
    disk, not inside a collective; where no cache can be written, it encodes the corpus itself
    once rank 0 is done. Only rank 0, which evaluates, builds the evaluation's references."""
    from conftest import make_lines

    text = "\n".join(make_lines(300)) + "\n"
    (tmp_path / "locked").mkdir()
    (tmp_path / "tiny.txt").write_text(text)
    (tmp_path / "locked" / "tiny.txt").write_text(text)
    (tmp_path / "locked").chmod(0o555)  # no write bit: no cache, even for root
    worker = str(Path(__file__).parent / "rank_worker.py")
    try:
        run_torchrun([worker, str(tmp_path / "tiny.txt"), str(tmp_path / "locked" / "tiny.txt"),
                      str(tmp_path)], tmp_path)  # fmt: skip
    finally:
        (tmp_path / "locked").chmod(0o755)
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    built, waits = ranks[0].pop("built"), ranks[1].pop("collectives")
    # rank 0 alone wrote (or tried to write) both caches and built the evaluation
    assert len(built) == 3 and ranks[1].pop("built") == []
    assert waits and ranks[0].pop("collectives")
    overlaps = [(b, w) for b in built for w in waits if w[0] < b[1] and b[0] < w[1]]
    assert overlaps == []
    lines = ranks[0]["lines"]
    assert ranks[0] == {"cached": False, "lines": lines, "read_only_cache": False,
                        "read_only_lines": lines, "evaluators": 1}  # fmt: skip
    assert ranks[1] == {**ranks[0], "cached": True, "evaluators": 0}
    assert not (tmp_path / "locked" / "tiny.txt.textgan").exists()


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> dist.Store:
    """The job's key-value store, in memory, for ranks simulated one after another."""
    store = dist.HashStore()
    monkeypatch.setattr(dist, "barrier", lambda *a, **k: pytest.fail("a barrier ran"))
    monkeypatch.setattr(peers, "POLL_SECONDS", 0.01)
    return store


def as_rank(rank: int, build, otherwise, find, store: dist.Store, timeout: float = 60.0):
    world = World(rank, 2, store=store, timeout=timeout)
    return main_first(world, build, otherwise, find, key="build")


def test_other_ranks_poll_for_what_rank_0_builds(store, monkeypatch) -> None:
    polls = []

    def find() -> str | None:
        polls.append(1)
        return "cache" if len(polls) == 3 else None

    never = lambda: pytest.fail("rank 1 built")  # noqa: E731
    assert as_rank(1, never, never, find, store) == "cache"
    assert len(polls) == 3


def test_other_ranks_go_on_when_rank_0_is_done_and_left_nothing(store, monkeypatch) -> None:
    never = lambda: pytest.fail("rank 0 waited")  # noqa: E731
    assert as_rank(0, lambda: "rank 0's", never, never, store) == "rank 0's"
    assert store.check(["main_first/build"])
    otherwise = as_rank(1, lambda: "built", lambda: "otherwise", lambda: None, store)
    assert otherwise == "otherwise"


def test_rank_0_failing_still_lets_the_others_go_on(store, monkeypatch) -> None:
    def fail() -> str:
        raise TextganError("no text lines")

    with pytest.raises(TextganError):
        as_rank(0, fail, fail, lambda: None, store)
    with pytest.raises(TextganError):  # the same error on every rank, none left waiting
        as_rank(1, lambda: "built", fail, lambda: None, store)


def test_a_waiter_whose_builder_never_finishes_stops_within_the_timeout(store) -> None:
    """Rank 0 never says it is done (it died or was stopped): rank 1 stops after --dist-timeout
    with one line naming whom it waited for; with rank 0's failure in the store, that line."""
    never = lambda: pytest.fail("rank 1 built")  # noqa: E731
    started = time.monotonic()
    with pytest.raises(peers.PeerFailed, match=r"rank 0 \(building build\) failed, died or did "
                       r"not answer within --dist-timeout 0.3 s"):  # fmt: skip
        as_rank(1, never, never, lambda: None, store, timeout=0.3)
    assert 0.3 <= time.monotonic() - started < 5
    store.set(peers.FAILED.format(rank=0), "rank 0: cannot write runs/x")
    with pytest.raises(peers.PeerFailed, match=r"^stopping: rank 0: cannot write runs/x$"):
        as_rank(1, never, never, lambda: None, store, timeout=0.3)


def test_a_failing_process_leaves_its_line_and_a_peer_says_it(store) -> None:
    with pytest.raises(TextganError), peers.failures_shared(1, 2, store, 5.0):
        raise TextganError("node 1 has no corpus.txt")
    peer_failed = pytest.raises(peers.PeerFailed, match=r"^stopping: rank 1: node 1 has no")
    with peer_failed, peers.failures_shared(0, 2, store, 5.0):
        raise dist.DistBackendError("Connection closed by peer [127.0.0.1]:1234")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun_env(monkeypatch: pytest.MonkeyPatch, size: int, rank: int) -> None:
    for name, value in {"WORLD_SIZE": size, "RANK": rank, "LOCAL_RANK": rank,
                        "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": free_port(),
                        "GLOO_SOCKET_IFNAME": "lo"}.items():  # fmt: skip
        monkeypatch.setenv(name, str(value))


def test_a_one_process_torchrun_trains_in_a_gloo_group(
    tiny_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """WORLD_SIZE=1 still joins a process group, so a 1-GPU check runs the collectives that
    several GPUs run; alone, they change nothing: the run equals a plain one."""
    config = TrainConfig(batch_size=BATCH, iters=2, **DDP_CONFIG)
    plain = train(config, tiny_corpus, tmp_path / "plain")
    torchrun_env(monkeypatch, size=1, rank=0)
    seen = []
    on_start = lambda info: seen.append((dist.get_backend(), dist.get_world_size()))  # noqa: E731
    grouped = train(config, tiny_corpus, tmp_path / "grouped", on_start=on_start)
    assert seen == [("gloo", 1)] and not dist.is_initialized()
    a, b = (load_checkpoint(r.checkpoint) for r in (plain, grouped))
    for net in ("generator", "critic"):
        for key, value in a[net].items():
            assert torch.equal(value, b[net][key]), key


def test_on_cuda_each_process_joins_nccl_bound_to_its_gpu(monkeypatch) -> None:
    calls = []
    torchrun_env(monkeypatch, size=2, rank=1)
    monkeypatch.setattr(distributed, "resolve_device", lambda name: torch.device("cuda"))
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: calls.append(("set", device)))
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group",
                        lambda *args, **kwargs: calls.append(("init", args, kwargs)))  # fmt: skip
    monkeypatch.setattr(dist, "destroy_process_group", lambda: calls.append(("destroy",)))
    joined = World(1, 2, 1, launched=True, store=dist.HashStore(), timeout=42.0)
    with process_group("cuda", joined) as (world, device):
        assert (world.rank, world.size, device) == (1, 2, torch.device("cuda", 1))
    gpu = torch.device("cuda", 1)
    (_, _, options), group_store = calls[1], calls[1][2].pop("store")
    assert calls == [("set", gpu), ("init", ("nccl",), options), ("destroy",)]
    assert options == {"device_id": gpu, "rank": 1, "world_size": 2,
                       "timeout": datetime.timedelta(seconds=42)}  # fmt: skip
    group_store.set("k", "v")  # the group's keys, under their own prefix in the job's store
    assert joined.store.get("group/k") == b"v"
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(TextganError, match="LOCAL_RANK 1: this machine has 1 GPU"):
        process_group("cuda", joined).__enter__()


def test_a_torchrun_environment_without_its_rendezvous_is_one_error(monkeypatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(TextganError, match="cannot join the torchrun process group"):
        process_group("cpu").__enter__()


def test_every_rank_stops_by_minutes_at_rank_0s_iteration(tiny_corpus: Path, tmp_path: Path):
    """Rank 1's clock runs 100× as fast as rank 0's: both stop where rank 0's runs out."""
    worker = str(Path(__file__).parent / "ddp_minutes_worker.py")
    run_torchrun([worker, str(tiny_corpus), str(tmp_path / "run"), str(tmp_path)], tmp_path)
    stopped = [(tmp_path / f"stopped{rank}.txt").read_text() for rank in (0, 1)]
    assert stopped == ["3 minutes", "3 minutes"]
    assert [p.name for p in (tmp_path / "run").glob("ckpt-*.pt")] == ["ckpt-0000003.pt"]


def test_a_torchrun_language_model_trains_as_one_process_on_the_whole_batch(
    tiny_corpus: Path, tmp_path: Path
) -> None:
    """--loss mle under torchrun: two ranks of 8 lines train the weights one process trains on
    the 16 lines of each global batch (gradients averaged, then clipped, then one step)."""
    from typer.testing import CliRunner

    from textgan.cli.app import app

    options = ["--loss", "mle", "--device", "cpu", "--precision", "fp32", "--dim", "8",
               "--n-blocks", "1", "--seq-len", "12", "--iters", "3", "--eval-every", "3",
               "--eval-samples", "16", "--checkpoint-every", "3"]  # fmt: skip
    run_torchrun(["-m", "textgan", "train", str(tiny_corpus), *options, "--batch-size", "8",
                  "--run-dir", "ddp"], tmp_path)  # fmt: skip
    single = CliRunner().invoke(app, ["train", str(tiny_corpus), *options, "--batch-size", "16",
                                      "--run-dir", str(tmp_path / "one")])  # fmt: skip
    assert single.exit_code == 0, single.output
    both = [load_checkpoint(tmp_path / run / "ckpt-0000003.pt") for run in ("ddp", "one")]
    assert both[0].critic is None
    for key, value in both[1].generator.items():
        torch.testing.assert_close(both[0].generator[key], value, rtol=1e-4, atol=1e-6)
    assert "heldout_bpc" in (tmp_path / "ddp" / "metrics.jsonl").read_text()
