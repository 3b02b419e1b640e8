import collections
import random

import numpy as np
import pytest

from textgan.data.vocab import (
    PAD_CODE,
    PAD_ID,
    UNK_ID,
    UNK_TEXT,
    Vocab,
    codepoint_rows,
    train_vocab,
    vocab_from_counts,
)
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


SPECIAL = [*"ab cXYZ\t\r\x0b\x0c\x1c\x85\u2028\u3000\u00a0\u2581\u2047\x00\x01\x08\x7f", "😀"]


def random_texts(count: int, seed: int) -> list[str]:
    """Short texts over a few of SPECIAL: tabs, spaces and sentencepiece's own space symbol,
    NULs (which it skips), control characters, many equal counts. None ends in a carriage
    return, which sentencepiece's text input drops at a sentence's end and a count does not."""
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        chars = rng.sample(SPECIAL, rng.randint(1, len(SPECIAL)))
        text = "".join(rng.choice(chars) for _ in range(rng.randint(1, 60))).rstrip("\r")
        if text.strip("\x00"):
            texts.append(text)
    return texts


@pytest.mark.parametrize("max_vocab", [3, 5, 8, 2048])
def test_counts_build_the_vocabulary_the_text_builds(max_vocab: int) -> None:
    for text in random_texts(40, seed=max_vocab):
        counted = vocab_from_counts(collections.Counter(text), max_vocab)
        assert counted.pieces == train_vocab([text], max_vocab).pieces, repr(text)


def test_a_tab_keeps_its_place_among_equal_counts() -> None:
    text = "\x08\t\x0b" * 3 + "a"  # a tab between two characters as frequent as it
    counted = vocab_from_counts(collections.Counter(text), 2048)
    assert counted.pieces == train_vocab([text], 2048).pieces
    assert counted.characters[2:5] == ["\x08", "\t", "\x0b"] and "\n" not in counted.characters
    assert counted.encode("\t\n") == [3, UNK_ID]


def test_too_small_max_vocab_is_refused_for_counts_too() -> None:
    with pytest.raises(TextganError, match="max-vocab"):
        vocab_from_counts({"a": 2}, max_vocab=2)


def test_code_points_map_to_ids_and_padding_to_pad(vocab: Vocab) -> None:
    rows = codepoint_rows(["hello", "zq 😀"], 6)
    assert rows.dtype == np.uint32 and rows[0, 5] == PAD_CODE
    ids = vocab.ids_of(rows)
    assert np.array_equal(ids, vocab.encode_lines(["hello", "zq 😀"], 6))
    assert ids[1].tolist()[:4] == [UNK_ID, UNK_ID, vocab.encode(" ")[0], UNK_ID]
    assert ids[1, 4] == ids[1, 5] == PAD_ID
