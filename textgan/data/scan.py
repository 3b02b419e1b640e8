"""A corpus's lines, cut to seq_len, encoded in one pass over its text before the vocabulary is
known: each character gets a provisional id when first seen and is counted; once the vocabulary
is chosen from the counts, one lookup table turns provisional ids into final ones. The text is
read once, a block at a time, and never held whole: what stays is a byte or two per position."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textgan.data.reading import line_blocks
from textgan.data.vocab import PAD_CODE, codepoint_rows

UNSEEN = -1
ROWS_PER_BLOCK = 1 << 16  # lines encoded at a time, which bounds the encoder's scratch memory
CHUNK_BYTES = 64 << 20  # provisional ids are kept in arrays this large (see _Store)


@dataclass
class ScannedText:
    """Lines as provisional ids: id 0 is padding, the others stand for `codepoints[id]`."""

    blocks: list[np.ndarray]  # (n_i, seq_len) uint8/16/32 each, in line order
    codepoints: np.ndarray  # (K,) int64: the code point of each provisional id (PAD_CODE for 0)
    counts: np.ndarray  # (K,) int64: how often each provisional id occurs in all lines
    num_lines: int

    def rows(self, lines: np.ndarray) -> np.ndarray:
        """The provisional ids of the given sorted line numbers: (len(lines), seq_len)."""
        starts = np.cumsum([0] + [len(block) for block in self.blocks])  # (blocks + 1,)
        owner = np.searchsorted(starts, lines, side="right") - 1  # (len(lines),)
        seq_len = self.blocks[0].shape[1]
        out = np.zeros((len(lines), seq_len), dtype=np.int64)  # (len(lines), seq_len)
        for i, (block, start) in enumerate(zip(self.blocks, starts, strict=False)):
            mine = owner == i
            out[mine] = block[lines[mine] - start]
        return out

    def char_counts(self, without: np.ndarray) -> dict[str, int]:
        """Occurrences of each character in all lines but the rows `without` (provisional ids)."""
        counts = self.counts - np.bincount(without.ravel(), minlength=len(self.counts))
        return {chr(c): int(n) for c, n in zip(self.codepoints[1:], counts[1:], strict=True)}

    def final_ids(self, table: np.ndarray, aside: np.ndarray) -> np.ndarray:
        """All lines but the sorted line numbers `aside`, mapped through `table` (provisional id →
        final id): (num_lines − len(aside), seq_len). Empties each block once it is copied, so
        the provisional and the final ids are not held whole at the same time."""
        out = np.empty((self.num_lines - len(aside), self.blocks[0].shape[1]), dtype=table.dtype)
        start = written = 0
        for i, block in enumerate(self.blocks):
            for part in np.split(block, range(ROWS_PER_BLOCK, len(block), ROWS_PER_BLOCK)):
                keep = np.ones(len(part), dtype=bool)
                keep[aside[(aside >= start) & (aside < start + len(part))] - start] = False
                kept = int(keep.sum())
                out[written : written + kept] = table[part if kept == len(part) else part[keep]]
                start, written = start + len(part), written + kept
            self.blocks[i] = block[:0].copy()
        return out


def scan(path: str | Path, seq_len: int, max_lines: int | None = None) -> ScannedText:
    """One pass over the first max_lines non-blank lines of a text file."""
    table = np.full(PAD_CODE + 1, UNSEEN, dtype=np.int32)  # code point → provisional id
    table[PAD_CODE] = 0
    codepoints, counts, store = [np.array([PAD_CODE])], np.zeros(1, dtype=np.int64), _Store()
    for lines in line_blocks(path, max_lines):
        for start in range(0, len(lines), ROWS_PER_BLOCK):
            rows = codepoint_rows(lines[start : start + ROWS_PER_BLOCK], seq_len)  # (n, seq_len)
            ids = table[rows]
            if (ids == UNSEEN).any():
                new = np.unique(rows[ids == UNSEEN])
                table[new] = np.arange(len(counts), len(counts) + len(new))
                codepoints.append(new)
                counts = np.concatenate([counts, np.zeros(len(new), dtype=np.int64)])
                ids = table[rows]
            counts += np.bincount(ids.ravel(), minlength=len(counts))
            store.append(ids.astype(np.min_scalar_type(len(counts) - 1)))
    blocks = store.filled()
    num_lines = sum(len(block) for block in blocks)
    return ScannedText(blocks, np.concatenate(codepoints).astype(np.int64), counts, num_lines)


class _Store:
    """Rows appended into arrays of CHUNK_BYTES: the allocator maps arrays that large on their
    own and gives them back to the system when freed, where smaller ones would stay in its heap
    (and the final ids would then come on top of the provisional ones)."""

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.used: list[int] = []

    def append(self, rows: np.ndarray) -> None:
        chunk = self.chunks[-1] if self.chunks else None
        if (chunk is None or rows.dtype.itemsize > chunk.dtype.itemsize
                or self.used[-1] + len(rows) > len(chunk)):  # fmt: skip
            capacity = max(len(rows), CHUNK_BYTES // rows[0].nbytes)
            self.chunks.append(np.empty((capacity, rows.shape[1]), dtype=rows.dtype))
            self.used.append(0)
        self.chunks[-1][self.used[-1] : self.used[-1] + len(rows)] = rows
        self.used[-1] += len(rows)

    def filled(self) -> list[np.ndarray]:
        """The rows appended, as views of the chunks."""
        return [chunk[:n] for chunk, n in zip(self.chunks, self.used, strict=True)]
