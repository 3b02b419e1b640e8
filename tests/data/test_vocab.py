import numpy as np
import pytest

from textgan.data.vocab import PAD_ID, UNK_ID, UNK_TEXT, Vocab, train_vocab
from textgan.errors import TextganError

TEXTS = ["hello  world", " leading", "trailing ", "a, b; c! (d) 'e' \"f\"", "café naïve €5"]


@pytest.fixture(scope="module")
def vocab() -> Vocab:
    return train_vocab(TEXTS, max_vocab=2048)


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip_is_exact(vocab: Vocab, text: str) -> None:
    ids = vocab.encode(text)
    assert len(ids) == len(text)
    assert vocab.decode(ids) == text


def test_one_id_per_character_and_ids_in_range(vocab: Vocab) -> None:
    ids = vocab.encode_lines(TEXTS, 32)
    assert ids.shape == (len(TEXTS), 32)
    assert ids.max() < len(vocab)
    assert ids.dtype == np.uint8


def test_unknown_characters_decode_to_one_visible_character_each(vocab: Vocab) -> None:
    ids = vocab.encode("zz q")
    assert ids[0] == ids[1] == ids[3] == UNK_ID
    assert vocab.decode(ids) == f"{UNK_TEXT}{UNK_TEXT} {UNK_TEXT}"


def test_pad_decodes_to_nothing_and_lines_are_cut(vocab: Vocab) -> None:
    ids = vocab.encode_lines(["hello", "hello  world leading trailing"], 8)
    assert ids[0].tolist()[5:] == [PAD_ID] * 3
    assert vocab.decode(ids[0]) == "hello"
    assert vocab.decode(ids[1]) == "hello  w"


def test_fast_encoder_equals_sentencepiece(vocab: Vocab) -> None:
    # sentencepiece merges a RUN of unknown characters into one id; with single unknown
    # characters (and known ones) the two encoders agree exactly.
    for text in [*TEXTS, "x hello", "q a q"]:
        assert vocab.encode(text) == vocab.processor.encode(text)


def test_max_vocab_keeps_the_most_frequent_characters() -> None:
    vocab = train_vocab(["aaaa bbb cc d"] * 3, max_vocab=5)  # pad, unk + 3 characters
    assert len(vocab) == 5
    assert set(vocab.characters[2:]) == {"a", "b", " "}
    assert vocab.encode("cd") == [UNK_ID, UNK_ID]


def test_model_proto_rebuilds_the_same_vocabulary(vocab: Vocab) -> None:
    again = Vocab(vocab.model_proto)
    assert again.characters == vocab.characters
    assert np.array_equal(again.encode_lines(TEXTS, 16), vocab.encode_lines(TEXTS, 16))


def test_too_small_max_vocab_is_refused() -> None:
    with pytest.raises(TextganError, match="max-vocab"):
        train_vocab(["abc"], max_vocab=2)
