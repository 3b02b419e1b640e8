"""Two CPU processes (gloo) under torchrun: the distributed gradient penalty is the penalty."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from textgan.config import TrainConfig
from textgan.training.state import build_state
from textgan.training.steps import make_engine, train_iteration

sys.path.insert(0, str(Path(__file__).parent))
from ddp_worker import DDP_CONFIG

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
ITERS, BATCH = 3, 8


def run_torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    result = subprocess.run(TORCHRUN + args, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=240)  # fmt: skip
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
    for net in ("generator", "critic"):
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
    single = {"generator": state.generator.state_dict(), "critic": state.critic.state_dict()}
    for net in ("generator", "critic"):
        for key, value in single[net].items():
            torch.testing.assert_close(rank0[net][key], value, rtol=1e-4, atol=1e-6)
    # the comparison is between trained weights, not two initialisations; the two biases that
    # reach the score through linear maps only are constant offsets: they cancel in
    # D(fake) − D(real), the penalty does not see them, so their gradient is exactly zero
    moved = {k for k in initial if not torch.equal(initial[k], single["critic"][k])}
    assert moved == set(initial) - {"fc.bias", "blocks.0.conv2.bias"}


def test_torchrun_train_writes_one_run_dir(tiny_corpus: Path, tmp_path: Path) -> None:
    args = ["-m", "textgan", "train", str(tiny_corpus), "--device", "cpu", "--dim", "8",
            "--n-blocks", "1", "--seq-len", "12", "--batch-size", "8", "--critic-iters", "1",
            "--iters", "3", "--checkpoint-every", "2", "--eval-every", "2"]  # fmt: skip
    result = run_torchrun(args, tmp_path)
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1, runs
    assert sorted(p.name for p in runs[0].glob("ckpt-*.pt")) == [
        "ckpt-0000002.pt",
        "ckpt-0000003.pt",
    ]
    assert [line.split()[-1] for line in (runs[0] / "samples.txt").read_text().splitlines()
            if line.startswith("# iteration")] == ["2", "3"]  # fmt: skip
    assert "batch 16 in all" in result.stdout


def test_every_rank_stops_by_minutes_at_rank_0s_iteration(tiny_corpus: Path, tmp_path: Path):
    """Rank 1's clock runs 100× as fast as rank 0's: both stop where rank 0's runs out."""
    worker = str(Path(__file__).parent / "ddp_minutes_worker.py")
    run_torchrun([worker, str(tiny_corpus), str(tmp_path / "run"), str(tmp_path)], tmp_path)
    stopped = [(tmp_path / f"stopped{rank}.txt").read_text() for rank in (0, 1)]
    assert stopped == ["3 minutes", "3 minutes"]
    assert [p.name for p in (tmp_path / "run").glob("ckpt-*.pt")] == ["ckpt-0000003.pt"]
