import io

import numpy as np
import pytest
import torch
from conftest import SamplerAsSavedBefore

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


CUDA_STATE = torch.tensor([5, 0], dtype=torch.int64).view(torch.uint8)  # Philox's seed, offset


def saved_size(state: dict) -> int:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.tell()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_rows_stay_in_the_cache_dtype_and_batches_are_int64(
    device: torch.device, dtype: type
) -> None:
    ids = np.arange(40, dtype=dtype).reshape(20, 2)
    if dtype == np.uint16:
        ids = ids * 1500 + 10  # up to 58,510: ids above 32,767 come back unchanged
    sampler = BatchSampler(ids, 4, device, seed=0)
    assert sampler.rows.element_size() == ids.itemsize
    batches = torch.cat([sampler.next() for _ in range(5)])  # one epoch: every row once
    assert batches.dtype == torch.int64 and batches.device.type == device.type
    assert sorted(map(tuple, batches.tolist())) == sorted(map(tuple, ids.tolist()))


def test_rows_share_the_arrays_memory_on_the_cpu() -> None:
    ids = np.arange(60, dtype=np.uint8).reshape(30, 2)
    ids.flags.writeable = False  # as a cache's memory map
    sampler = BatchSampler(ids, 4, torch.device("cpu"), seed=0)
    assert sampler.rows.data_ptr() == ids.ctypes.data


def test_the_saved_state_does_not_grow_with_the_corpus() -> None:
    sizes = []
    for rows in (1_000, 200_000):
        sampler = BatchSampler(np.zeros((rows, 4), dtype=np.uint8), 8, torch.device("cpu"), 0)
        sampler.next()
        sizes.append(saved_size(sampler.state_dict()))
    assert sizes[0] == sizes[1] < 8 * 1024


def test_a_restored_state_continues_identically_across_epochs() -> None:
    ids = np.arange(60, dtype=np.uint8).reshape(30, 2)
    a = BatchSampler(ids, 7, torch.device("cpu"), seed=1)
    for _ in range(6):  # into the second epoch (4 batches each)
        a.next()
    b = BatchSampler(ids, 7, torch.device("cpu"), seed=99)
    b.load_state_dict(a.state_dict())
    assert all(torch.equal(a.next(), b.next()) for _ in range(12))


def test_the_same_batches_as_the_sampler_that_saved_the_whole_order() -> None:
    ids = np.arange(66, dtype=np.uint8).reshape(33, 2)
    before = SamplerAsSavedBefore(ids, 5, seed=3)
    now = BatchSampler(ids, 5, torch.device("cpu"), seed=3)
    assert all(torch.equal(before.next(), now.next()) for _ in range(20))  # 3 epochs


def test_a_state_with_the_whole_order_restores_the_same_next_batches() -> None:
    ids = np.arange(66, dtype=np.uint8).reshape(33, 2)
    before = SamplerAsSavedBefore(ids, 5, seed=3)
    for _ in range(8):  # position 10 of the second epoch (6 batches each)
        before.next()
    restored = BatchSampler(ids, 5, torch.device("cpu"), seed=0)
    restored.load_state_dict(before.state_dict())
    assert "order" in restored.state_dict()  # the whole order is kept until its epoch ends
    for _ in range(4):
        assert torch.equal(before.next(), restored.next())
    assert "order" in restored.state_dict()
    assert torch.equal(before.next(), restored.next())  # the third epoch's first batch
    assert "order" not in restored.state_dict()
    assert all(torch.equal(before.next(), restored.next()) for _ in range(10))


def test_a_whole_order_saved_on_cuda_keeps_its_epoch_and_reseeds_the_next() -> None:
    ids = np.arange(60, dtype=np.uint8).reshape(30, 2)
    a = SamplerAsSavedBefore(ids, 7, seed=1)
    for _ in range(2):
        a.next()
    state = {**a.state_dict(), "rng": CUDA_STATE}
    b, c = (BatchSampler(ids, 7, torch.device("cpu"), seed=1) for _ in range(2))
    assert b.load_state_dict(state, iteration=2) == c.load_state_dict(state, iteration=2) == "cuda"
    for _ in range(2):  # the rest of the epoch (4 batches of 7 of 30 rows): the saved order
        assert torch.equal(a.next(), b.next())
        c.next()
    later_b, later_c = (torch.cat([s.next() for _ in range(4)]) for s in (b, c))
    assert torch.equal(later_b, later_c)  # re-seeded the same way each time
    assert not torch.equal(later_b, torch.cat([a.next() for _ in range(4)]))


def test_an_epoch_state_saved_on_cuda_starts_a_reseeded_epoch() -> None:
    """Without the whole order, the epoch's order cannot be drawn again from a state of another
    device type: a new epoch starts, drawn from the re-seeded generator, the same every time."""
    ids = np.arange(60, dtype=np.uint8).reshape(30, 2)
    a = BatchSampler(ids, 7, torch.device("cpu"), seed=1)
    for _ in range(2):
        a.next()
    state = {**a.state_dict(), "epoch_rng": CUDA_STATE}
    b, c = (BatchSampler(ids, 7, torch.device("cpu"), seed=1) for _ in range(2))
    assert b.load_state_dict(state, iteration=2) == c.load_state_dict(state, iteration=2) == "cuda"
    epoch_b, epoch_c = (torch.cat([s.next() for _ in range(4)]) for s in (b, c))
    assert torch.equal(epoch_b, epoch_c)
    assert len(set(epoch_b[:, 0].tolist())) == 28  # a whole epoch: 28 different rows of 30
    assert not torch.equal(epoch_b, torch.cat([a.next() for _ in range(4)]))
