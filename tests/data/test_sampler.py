import numpy as np
import pytest
import torch

from textgan.data.sampler import BatchSampler, one_hot
from textgan.data.vocab import PAD_ID, UNK_ID, train_vocab
from textgan.errors import TextganError


def test_one_hot_rows_sum_to_one_and_argmax_gives_ids_back() -> None:
    vocab = train_vocab(["abc de"], max_vocab=64)
    ids = torch.from_numpy(vocab.encode_lines(["abc", "dz e"], 6).astype(np.int64))
    assert ids[0, 3].item() == PAD_ID and ids[1, 1].item() == UNK_ID
    rows = one_hot(ids, len(vocab))
    assert rows.shape == (2, 6, len(vocab))
    assert torch.equal(rows.sum(-1), torch.ones(2, 6))
    assert torch.equal(rows.argmax(-1), ids)


def test_every_row_once_per_epoch_then_reshuffled(device: torch.device) -> None:
    ids = np.arange(40, dtype=np.uint8).reshape(20, 2)
    sampler = BatchSampler(ids, 4, device, seed=0)
    epoch1 = torch.cat([sampler.next() for _ in range(5)])
    epoch2 = torch.cat([sampler.next() for _ in range(5)])
    for epoch in (epoch1, epoch2):
        assert sorted(epoch[:, 0].tolist()) == list(range(0, 40, 2))
    assert not torch.equal(epoch1, epoch2)
    assert epoch1.device.type == device.type


def test_state_round_trip_continues_identically() -> None:
    ids = np.arange(60, dtype=np.uint8).reshape(30, 2)
    a = BatchSampler(ids, 7, torch.device("cpu"), seed=1)
    for _ in range(5):
        a.next()
    state = a.state_dict()
    b = BatchSampler(ids, 7, torch.device("cpu"), seed=99)
    b.load_state_dict(state)
    for _ in range(10):
        assert torch.equal(a.next(), b.next())


def test_fewer_lines_than_a_batch_is_refused() -> None:
    with pytest.raises(TextganError, match="batch-size"):
        BatchSampler(np.zeros((3, 4), dtype=np.uint8), 8, torch.device("cpu"), seed=0)


def test_a_generator_state_saved_on_cuda_keeps_the_epoch_and_reseeds_the_next() -> None:
    ids = np.arange(60, dtype=np.uint8).reshape(30, 2)
    a = BatchSampler(ids, 7, torch.device("cpu"), seed=1)
    for _ in range(2):
        a.next()
    state = {**a.state_dict(), "rng": torch.tensor([5, 0], dtype=torch.int64).view(torch.uint8)}
    b, c = (BatchSampler(ids, 7, torch.device("cpu"), seed=1) for _ in range(2))
    assert b.load_state_dict(state, iteration=2) == c.load_state_dict(state, iteration=2) == "cuda"
    for _ in range(2):  # the rest of the epoch (4 batches of 7 of 30 rows): the saved order
        assert torch.equal(a.next(), b.next())
        c.next()
    later_b, later_c = (torch.cat([s.next() for _ in range(4)]) for s in (b, c))
    assert torch.equal(later_b, later_c)  # re-seeded the same way each time
    assert not torch.equal(later_b, torch.cat([a.next() for _ in range(4)]))
