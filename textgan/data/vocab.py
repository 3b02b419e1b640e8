"""Character vocabulary: a sentencepiece char model plus a vectorised code point → id table."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import sentencepiece as spm

from textgan.config import TrainConfig, check_vocab_size
from textgan.errors import TextganError

PAD_ID = 0
UNK_ID = 1
PAD_PIECE = "<pad>"
UNK_PIECE = "<unk>"
UNK_TEXT = "\ufffd"  # what an unknown character decodes to: one visible character
SPACE_PIECE = "\u2581"  # sentencepiece's visible space
PAD_CODE = 0x110000  # past the last Unicode code point: marks the positions after a line's end
TAB_STAND_IN = "\n"  # how a tab is counted in sentencepiece's tsv input (see vocab_from_counts)
SP_OPTIONS = dict(
    model_type="char",
    hard_vocab_limit=False,
    character_coverage=1.0,
    normalization_rule_name="identity",
    add_dummy_prefix=False,
    remove_extra_whitespaces=False,
    split_by_whitespace=False,
    byte_fallback=False,
    bos_id=-1,
    eos_id=-1,
    pad_id=PAD_ID,
    unk_id=UNK_ID,
    pad_piece=PAD_PIECE,
    unk_piece=UNK_PIECE,
    max_sentence_length=1 << 16,
    num_threads=2,
    minloglevel=2,
)


class Vocab:
    """One id per character; pad (0) and unk (1) are ids too.

    Encoding uses a code point table built from the sentencepiece model, so every character
    takes exactly one position (sentencepiece itself merges a run of unknown characters into
    one unk id).
    """

    def __init__(self, model_proto: bytes) -> None:
        self.model_proto = bytes(model_proto)
        self.processor = spm.SentencePieceProcessor(model_proto=self.model_proto)
        self.pieces = [
            self.processor.id_to_piece(i) for i in range(self.processor.get_piece_size())
        ]
        if self.pieces[PAD_ID] != PAD_PIECE or self.pieces[UNK_ID] != UNK_PIECE:
            raise TextganError(
                "the vocabulary is not a textgan character model (pad/unk ids differ)"
            )
        self._chars = ["", UNK_TEXT] + [_piece_text(p) for p in self.pieces[2:]]
        self._table = _codepoint_table(self._chars)

    def __len__(self) -> int:
        return len(self.pieces)

    @property
    def characters(self) -> list[str]:
        """The text of every id (pad is empty, unk is the replacement character)."""
        return list(self._chars)

    def encode(self, text: str) -> list[int]:
        """Ids of one text, one per character (no padding, no cut)."""
        if not text:
            return []
        return self.encode_lines([text], len(text))[0].tolist()

    def encode_lines(self, lines: Sequence[str], seq_len: int) -> np.ndarray:
        """Cut each line to seq_len characters and pad with PAD_ID: (N, seq_len) uint8/uint16."""
        return self.ids_of(codepoint_rows(lines, seq_len))

    def ids_of(self, codepoints: np.ndarray) -> np.ndarray:
        """The id of every code point (PAD_CODE → PAD_ID), in id_dtype, same shape."""
        table = self._table
        ids = table[np.minimum(codepoints, len(table) - 1)].astype(self.id_dtype)
        ids[codepoints >= len(table)] = UNK_ID
        ids[codepoints == PAD_CODE] = PAD_ID
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Text of one id sequence; pad decodes to nothing."""
        return "".join(self._chars[i] for i in ids)

    @property
    def id_dtype(self) -> type[np.unsignedinteger]:
        return np.uint8 if len(self) <= 256 else np.uint16


def train_vocab(lines: Iterable[str], max_vocab: int = TrainConfig.max_vocab) -> Vocab:
    """Train a sentencepiece char model that keeps the max_vocab - 2 most frequent characters."""
    return Vocab(_train(lines, max_vocab))


def vocab_from_counts(counts: Mapping[str, int], max_vocab: int = TrainConfig.max_vocab) -> Vocab:
    """The vocabulary train_vocab builds from a text in which each character occurs counts[c]
    times: a char model only counts characters, so sentencepiece is trained on one
    `character<TAB>count` line per character (its tsv input) instead of the text.

    That input cannot hold a tab, so a tab is counted as TAB_STAND_IN (a line break, which no
    line holds, and which sorts right after the tab among equal counts) and renamed in the model.
    """
    names = {"\t": TAB_STAND_IN}
    tsv = [f"{names.get(c, c)}\t{n}" for c, n in sorted(counts.items()) if n]
    proto = _train(tsv, max_vocab, input_format="tsv")
    return Vocab(_rename_piece(proto, TAB_STAND_IN, "\t"))


def _train(sentences: Iterable[str], max_vocab: int, **options: Any) -> bytes:
    check_vocab_size(max_vocab)
    writer = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(sentence_iterator=iter(sentences), model_writer=writer,
                                       vocab_size=max_vocab, **SP_OPTIONS, **options)  # fmt: skip
    except RuntimeError as err:
        raise TextganError(f"could not build the character vocabulary: {err}") from err
    return writer.getvalue()


def _rename_piece(proto: bytes, old: str, new: str) -> bytes:
    """The serialized model with the piece `old` named `new` (one byte each in UTF-8), if it
    has one.

    A ModelProto is a sequence of length-delimited fields; field 1 is a piece, whose own first
    field (1, length 1) is its text."""
    data, pos = bytearray(proto), 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        length, pos = _varint(data, pos)
        if tag == 0x0A and data[pos : pos + 3] == b"\x0a\x01" + old.encode():
            data[pos + 2 : pos + 3] = new.encode()
            return bytes(data)
        pos += length
    return proto


def _varint(data: bytearray, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if byte < 0x80:
            return value, pos


def codepoint_rows(lines: Sequence[str], seq_len: int) -> np.ndarray:
    """Each line cut to seq_len characters, as code points padded with PAD_CODE: (N, seq_len)."""
    padded = "".join([line[:seq_len].ljust(seq_len, "\0") for line in lines])
    out = np.frombuffer(padded.encode("utf-32-le"), dtype=np.uint32).reshape(-1, seq_len).copy()
    lengths = np.fromiter(map(len, lines), dtype=np.int64, count=len(lines))  # (N,)
    out[np.arange(seq_len) >= lengths[:, None]] = PAD_CODE  # (N, seq_len): a NUL of the text stays
    return out


def _piece_text(piece: str) -> str:
    return piece.replace(SPACE_PIECE, " ")


def _codepoint_table(chars: list[str]) -> np.ndarray:
    """Lookup table: code point → id (UNK_ID where the character is not in the vocabulary)."""
    singles = {ch: i for i, ch in enumerate(chars) if len(ch) == 1 and i != UNK_ID}
    size = max((ord(ch) for ch in singles), default=0) + 1
    table = np.full(size, UNK_ID, dtype=np.int64)
    for ch, i in singles.items():
        table[ord(ch)] = i
    return table
