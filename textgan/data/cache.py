"""On-disk cache of an encoded corpus in `<corpus>.textgan/<key>/`, trusted only when whole.

The key covers the files' identity (size, mtime, a hash of the first MiB) and the encoding
settings, so a changed corpus or setting gets a new key. The manifest is written last and
holds every file's size and hash: a half-written or damaged cache is never loaded.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from textgan.runtime.fileio import atomic_open, atomic_write_text

FORMAT_VERSION = 1
HEAD_BYTES = 1 << 20  # the part of a file whose hash goes into the key
HASH_BLOCK = 1 << 22
MANIFEST = "manifest.json"
VOCAB_FILE = "vocab.model"
ARRAYS = ("ids", "heldout_ids", "aside")


@dataclass(frozen=True)
class CachedEncoding:
    """What the cache holds: enough to rebuild an encoded corpus without reading its text."""

    vocab_proto: bytes
    ids: np.ndarray  # (N, seq_len) uint8/uint16: the training lines
    heldout_ids: np.ndarray  # (M, seq_len)
    aside: np.ndarray  # (K,) int64: corpus line numbers held out (K = 0 with a held-out file)
    num_lines: int  # corpus lines read (after --max-lines), the held-out ones included


def cache_dir(corpus: Path, heldout: Path | None, settings: dict[str, Any]) -> Path | None:
    """`<corpus>.textgan/<key>`, or None when a file cannot be read (its reader says why)."""
    try:
        files = {"corpus": _identity(corpus), "heldout": _identity(heldout, named=True)}
    except OSError:
        return None
    blob = json.dumps({"format": FORMAT_VERSION, **files, **settings}, sort_keys=True)
    key = hashlib.blake2b(blob.encode(), digest_size=10).hexdigest()
    return corpus.with_name(corpus.name + ".textgan") / key


def encoding_dirs(
    corpus: Path, heldout_file: Path | None, vocab_proto: bytes | None, settings: dict[str, Any]
) -> list[Path]:
    """Where an encoding with these settings (seq_len, max_vocab, max_lines, holdout, seed) may
    be cached: the corpus's own cache, built without a given vocabulary; with one, also a cache
    keyed on it (written when the own cache has another vocabulary)."""
    if heldout_file is not None:  # the split then depends on neither
        settings = settings | {"holdout": None, "seed": None}
    keys = [settings | {"vocab": None}]
    if vocab_proto is not None:
        keys.append(settings | {"vocab": hash_bytes(vocab_proto)})
    dirs = [cache_dir(corpus, heldout_file, key) for key in keys]
    return [d for d in dirs if d is not None]


def find_encoding(
    dirs: list[Path], vocab_proto: bytes | None, own: CachedEncoding | None = None
) -> tuple[CachedEncoding, Path] | None:
    """The first whole encoding in dirs with this vocabulary (any, without one), and where it
    is; own: the first directory's, when already loaded."""
    for i, directory in enumerate(dirs):
        found = own if i == 0 and own is not None else load_encoding(directory)
        if found is not None and vocab_proto in (None, found.vocab_proto):
            return found, directory
    return None


def hash_bytes(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _identity(path: Path | None, named: bool = False) -> dict[str, Any] | None:
    """Size, mtime and a hash of the head; the corpus is not named (its cache is beside it)."""
    if path is None:
        return None
    stat = path.stat()
    with path.open("rb") as f:
        head = hashlib.blake2b(f.read(HEAD_BYTES)).hexdigest()
    identity = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "head": head}
    return identity | {"path": str(path.resolve())} if named else identity


def save_encoding(directory: Path, encoding: CachedEncoding) -> bool:
    """Write the encoding, its manifest last; False when the location cannot be written."""
    arrays = {name: getattr(encoding, name) for name in ARRAYS}
    return save_arrays(directory, arrays, {VOCAB_FILE: encoding.vocab_proto},
                       {"num_lines": encoding.num_lines})  # fmt: skip


def save_arrays(
    directory: Path, arrays: dict[str, np.ndarray], blobs: dict[str, bytes], meta: dict[str, Any]
) -> bool:
    """Write `<name>.npy` for each array, each blob as its file, then the manifest (sizes, hashes
    and meta); False when the location cannot be written."""
    try:
        if not directory.parent.exists() and not _writable(directory.parent.parent):
            return False
        directory.mkdir(parents=True, exist_ok=True)
        (directory / MANIFEST).unlink(missing_ok=True)  # untrusted until rewritten
        files = {}
        for name, data in blobs.items():
            with atomic_open(directory / name) as f:
                f.write(data)
            files[name] = _describe(directory / name)
        for name, array in arrays.items():
            with atomic_open(directory / f"{name}.npy") as f:
                np.save(f, array, allow_pickle=False)
            files[f"{name}.npy"] = _describe(directory / f"{name}.npy", array)
        manifest = {"format": FORMAT_VERSION, **meta, "files": files}
        atomic_write_text(directory / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    except OSError:
        return False
    return True


def _writable(directory: Path) -> bool:
    """A directory without any write bit is read-only on purpose, even to root."""
    return os.access(directory, os.W_OK) and bool(directory.stat().st_mode & 0o222)


def _describe(path: Path, array: np.ndarray | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"bytes": path.stat().st_size, "blake2b": _file_hash(path)}
    if array is not None:
        entry |= {"shape": list(array.shape), "dtype": array.dtype.str}
    return entry


def load_encoding(directory: Path) -> CachedEncoding | None:
    """The encoding in directory; None when it is missing, incomplete or unlike its manifest."""
    found = load_arrays(directory, ARRAYS, (VOCAB_FILE,))
    if found is None:
        return None
    arrays, blobs, manifest = found
    try:
        return CachedEncoding(blobs[VOCAB_FILE], num_lines=int(manifest["num_lines"]), **arrays)
    except (KeyError, TypeError, ValueError):
        return None


def load_arrays(
    directory: Path, names: Sequence[str], blob_names: Sequence[str] = ()
) -> tuple[dict[str, np.ndarray], dict[str, bytes], dict[str, Any]] | None:
    """The arrays (memory-mapped, read-only), blobs and manifest that save_arrays wrote; None when
    any is missing, incomplete or unlike its manifest."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
        expected = {*blob_names, *(f"{name}.npy" for name in names)}
        if manifest["format"] != FORMAT_VERSION or set(files) != expected:
            return None
        if not all(_intact(directory / name, entry) for name, entry in files.items()):
            return None
        arrays = {name: _open_array(directory / f"{name}.npy", files[f"{name}.npy"])
                  for name in names}  # fmt: skip
        blobs = {name: (directory / name).read_bytes() for name in blob_names}
        return arrays, blobs, manifest
    except (OSError, ValueError, KeyError, TypeError):
        return None


def encoding_digest(vocab_proto: bytes, arrays: Sequence[np.ndarray]) -> str:
    """A hash of an encoding's vocabulary and arrays (their shapes, dtypes and bytes): equal
    wherever the same text was encoded with the same settings, whether or not it was cached."""
    digest = hashlib.blake2b(vocab_proto, digest_size=16)
    for array in arrays:
        digest.update(f"{array.shape} {array.dtype.str};".encode())
        flat = np.ascontiguousarray(array).reshape(-1).view(np.uint8)  # (bytes,), no copy
        for start in range(0, flat.size, HASH_BLOCK):
            digest.update(flat[start : start + HASH_BLOCK])
    return digest.hexdigest()


def manifest_digest(directory: Path) -> str | None:
    """A hash of the manifest in directory (it holds every file's hash): what a thing built from
    the cached files can be checked against; None without a manifest."""
    try:
        return hash_bytes((directory / MANIFEST).read_bytes())
    except OSError:
        return None


def _intact(path: Path, entry: dict[str, Any]) -> bool:
    return path.stat().st_size == entry["bytes"] and _file_hash(path) == entry["blake2b"]


def _open_array(path: Path, entry: dict[str, Any]) -> np.ndarray:
    """The array memory-mapped read-only (an empty one cannot be mapped: read instead)."""
    shape = tuple(entry["shape"])
    mode = "r" if math.prod(shape) else None
    array = np.load(path, mmap_mode=mode, allow_pickle=False)
    if array.shape != shape or array.dtype.str != entry["dtype"]:
        raise ValueError(f"{path} is not the {entry['dtype']} {shape} array of its manifest")
    return array


def _file_hash(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    buffer = bytearray(HASH_BLOCK)
    view = memoryview(buffer)
    with path.open("rb") as f:
        while size := f.readinto(buffer):
            digest.update(view[:size])
    return digest.hexdigest()
