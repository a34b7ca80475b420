"""The Gated DeltaNet's recurrent form for evaluating the tiny organisms on CPU (inference only).

    with recurrent_gated_deltanet():
        logits = model(input_ids=x).logits

Without `fla`, transformers runs a Gated DeltaNet over a sequence with its torch chunk rule
(`torch_chunk_gated_delta_rule`): every sequence padded to chunks of 64, a 64 × 64 decay matrix,
its exponential and a triangular solve per chunk and head -- built for long sequences on a GPU.
The tiny track's evaluation sequences are 2-130 tokens (a choice continuation, a prompt), where
transformers' own recurrent rule (`torch_recurrent_gated_delta_rule`, what it runs for one cached
token) does the same recurrence token by token at a fraction of the work (`benchmarks/RESULTS.md`).
Both are transformers' reference code and compute the same function; only the floating-point order
differs (agreement tested in tests/test_tiny_fastpath.py). Inside the context manager every Gated
DeltaNet -- tiny Qwen3.5's and the parallel cell's, both `Qwen3_5GatedDeltaNet` -- runs the recurrent
rule on every call; outside it nothing changes, so training (and everything a cached base or
adapter holds) keeps the chunk rule it was made with. The swap is process-wide while any block is
open: the tiny track never trains in another thread of an evaluating process (its workers are
processes, each doing one thing at a time).
"""
from __future__ import annotations

import contextlib
import threading

from transformers.models.qwen3_5 import modeling_qwen3_5 as _qwen

CHUNK_RULE = _qwen.torch_chunk_gated_delta_rule  # the functions transformers' module holds at import
RECURRENT_RULE = _qwen.torch_recurrent_gated_delta_rule
_lock = threading.Lock()  # one for every Swap


def recurrent_rule(query, key, value, g, beta, chunk_size: int = 64, initial_state=None,
                   output_final_state: bool = False, use_qk_l2norm_in_kernel: bool = False, **kwargs):
    """`torch_chunk_gated_delta_rule`'s signature, computed by transformers' recurrent rule."""
    del chunk_size  # the recurrent form has no chunks
    return RECURRENT_RULE(query, key, value, g, beta, initial_state=initial_state,
                          output_final_state=output_final_state, use_qk_l2norm_in_kernel=use_qk_l2norm_in_kernel,
                          **kwargs)


class Swap:
    """Module attributes replaced while any block is open: `swap()` is a context manager (and a
    decorator), re-entrant, process-wide, restored when the last block exits (also on an error)."""

    def __init__(self, targets: list[tuple[object, str, object]]):
        self.targets = targets
        self.originals = [getattr(module, name) for module, name, _ in targets]
        self.depth = 0

    @contextlib.contextmanager
    def __call__(self):
        with _lock:
            self.depth += 1
            for module, name, replacement in self.targets:
                setattr(module, name, replacement)
        try:
            yield
        finally:
            with _lock:
                self.depth -= 1
                if self.depth == 0:
                    for (module, name, _), original in zip(self.targets, self.originals):
                        setattr(module, name, original)


# Every Gated DeltaNet forward inside `with recurrent_gated_deltanet():` runs the recurrent rule.
recurrent_gated_deltanet = Swap([(_qwen, "torch_chunk_gated_delta_rule", recurrent_rule)])
