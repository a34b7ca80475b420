"""Memo of bootstrap resample-index matrices, keyed by the generator's exact state.

Every comparison starts a fresh ``np.random.default_rng(seed)`` (the study's scheme), so the
suite draws the same ``rng.integers(0, n, size=(B, n))`` matrix over and over: same seed, same
n, same B. Drawing it is a third of the bootstrap's time. The memo keeps the drawn chunks under

    (bit generator type, its full state, n, B)

and on a hit returns them and sets the generator to the state the draw would have left it in,
so what follows (the next stratum's draw, the seed term's ``standard_t``) continues the very
same stream: results are bit-identical to drawing afresh, by construction. The state key is the
generator's whole state (for PCG64 the 128-bit state, increment and buffered 32-bit half), not
"(seed, n, B)", so a generator that has already drawn something never hits a fresh one's entry.

How the draw is cut into row chunks does not change a value (the stream is chunk-neutral and
each row's mean is its own), so the chunking is not part of the key. Indices are stored in the smallest unsigned dtype that holds n - 1 (the gathered values, hence
every mean, are identical). Memory is bounded (`max_bytes`, least recently used out).
"""
from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from typing import Callable, Iterator

import numpy as np

DEFAULT_MAX_BYTES = 256 << 20


def _freeze(obj):
    """A hashable copy of a bit generator's state (dicts, ints, strings, arrays)."""
    if isinstance(obj, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in obj.items()))
    if isinstance(obj, np.ndarray):
        return (obj.dtype.str, obj.shape, obj.tobytes())
    if isinstance(obj, (list, tuple)):
        return tuple(_freeze(v) for v in obj)
    return obj


def _small(idx: np.ndarray, n: int) -> np.ndarray:
    for dtype in (np.uint8, np.uint16, np.uint32):
        if n - 1 <= np.iinfo(dtype).max:
            return idx.astype(dtype)
    return idx


class IndexMemo:
    """`draw(rng, n, resamples, chunks)`: the chunks `chunks(rng)` yields, memoised by rng state."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self.enabled = True
        self.hits = self.misses = 0
        self._entries: OrderedDict = OrderedDict()  # key -> (chunks, end state)
        self._bytes = 0
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    @contextlib.contextmanager
    def disabled(self) -> Iterator[None]:
        """Draw afresh inside the block (the reference the memo is tested against)."""
        was, self.enabled = self.enabled, False
        try:
            yield
        finally:
            self.enabled = was

    def draw(self, rng: np.random.Generator, n: int, resamples: int,
             chunks: Callable[[], Iterator[np.ndarray]]) -> Iterator[np.ndarray]:
        if not self.enabled:
            yield from chunks()
            return
        bitgen = rng.bit_generator
        key = (type(bitgen).__name__, _freeze(bitgen.state), n, resamples)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                self.hits += 1
        if hit is not None:
            bitgen.state = hit[1]
            yield from hit[0]
            return
        self.misses += 1
        drawn = []
        for idx in chunks():
            yield idx
            drawn.append(_small(idx, n))
        self._store(key, drawn, bitgen.state)

    def _store(self, key, drawn: list[np.ndarray], end_state: dict) -> None:
        size = sum(a.nbytes for a in drawn)
        if size > self.max_bytes:
            return
        with self._lock:
            self._entries[key] = (drawn, end_state)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (old, _) = self._entries.popitem(last=False)
                self._bytes -= sum(a.nbytes for a in old)


MEMO = IndexMemo()
