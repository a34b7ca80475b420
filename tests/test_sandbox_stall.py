"""No completion can stall the scorer: whatever a returned value makes the host do (decode it,
build a set of it, compare it) happens in the checker process under the item's deadline, so one
item's hash flood is that item's timeout or failure, never its neighbours'. Every completion here
is hostile on purpose."""
from __future__ import annotations

import time

import pytest

from loraplace.sandbox import api as sandbox
from loraplace.sandbox import plaindata as pd
from sandbox_cases import OK, needs_full, prog

P = 2**61 - 1  # every multiple of it hashes alike (to 0): a set of them is quadratic to build
N = 50_000  # 100k froze the old scorer for 108 s; quadratic: 50k ~ 27 s


def forged(member: str, wrap: str) -> str:
    """A completion that writes its reply frame itself (on every fd: one is the reply pipe), a
    plain-data JSON text of N members sharing one hash, then sleeps: building such a set in
    the sandbox would be quadratic there too, so it sends the text instead."""
    return f"""    import json, os, time
    members = ','.join({member!r} % (k * {P}) for k in range(1, {N}))
    body = json.dumps(['value', {wrap!r} % members]).encode()
    frame = len(body).to_bytes(4, 'big') + body
    for fd in map(int, os.listdir('/proc/self/fd')):
        try:
            os.write(fd, frame) if fd > 2 else None
        except OSError:
            pass
    time.sleep(60)
"""


FLOODS = {
    "set": forged('{"int":"%x"}', '{"set":[%s]}'),
    "frozenset": forged('{"int":"%x"}', '{"frozenset":[%s]}'),
    "dict": forged('[{"int":"%x"},0]', '{"dict":[%s]}'),
    "set-of-tuples": forged('{"tuple":[{"int":"%x"}]}', '{"set":[%s]}'),
}
# the official test hashes what came back: the flood happens in `check` itself
HASHING_CHECK = "def check(candidate):\n    assert set(candidate(1)) == {2}\n"
LIST_FLOOD = f"    return [k * {P} for k in range(1, {N})]\n"


def test_the_decoder_refuses_a_hash_flood_before_building_anything():
    for value in ({k * P for k in range(1, 5000)}, {k * P: 1 for k in range(1, 5000)},
                  frozenset(-k * P for k in range(1, 5000))):
        text = pd.encode(value)
        t0 = time.process_time()
        with pytest.raises(pd.Malformed, match="hash flood"):
            pd.decode(text)
        assert time.process_time() - t0 < 1.0  # sorting 5,000 hashes; building it: seconds
    honest = {-1, -2, 0, 1, 2**61 - 1, 2**62}  # a few equal hashes are fine (-1 and -2: -2)
    assert pd.decode(pd.encode(honest)) == honest


@needs_full
def test_a_hash_flood_batch_finishes_in_time_and_neighbours_keep_their_results():
    """The red team's attack froze every scorer thread for 108 s with 100k ints; honest items in
    flight were stored as timeouts. Here: 4 floods the decoder sees, one that `check` itself
    hashes, and honest neighbours, 2 at a time."""
    timeout = 10.0  # forging 50k members must not itself run out of time on a loaded machine
    attacks = [prog(src) for src in FLOODS.values()]
    attacks.append(prog(LIST_FLOOD, test=HASHING_CHECK))
    honest = [prog(OK) for _ in range(3)]
    batch = [honest[0], *attacks[:3], honest[1], *attacks[3:], honest[2]]
    t0 = time.monotonic()
    res = sandbox.run_many(batch, workers=2, timeout=timeout, progress=False)
    elapsed = time.monotonic() - t0
    assert elapsed <= 2 * len(batch) * timeout, elapsed
    by_prog = dict(zip(map(id, batch), res))
    assert [by_prog[id(p)].status for p in honest] == ["passed"] * 3, res
    for p in attacks:
        r = by_prog[id(p)]
        assert r.status in ("crashed", "timeout", "failed"), r
    got = [(by_prog[id(p)].status, by_prog[id(p)].reason) for p in attacks]
    assert all("hash flood" in reason for _, reason in got[:4]), got
    assert by_prog[id(attacks[4])].status == "timeout"  # `check` ran past the deadline: killed


@needs_full
def test_the_checker_is_replaced_after_it_is_killed():
    flood, ok = sandbox.run_many([prog(LIST_FLOOD, test=HASHING_CHECK), prog(OK)], workers=1,
                                 timeout=5.0, progress=False)  # the flood needs ~27 s: killed
    assert flood.status == "timeout" and ok.status == "passed", (flood, ok)
