"""The sandbox's messages, host side: length-prefixed frames, parsed with bounded work and
without hashing anything the sandbox chose.

    body(buf) -> bytes | None       the next whole frame's body (4-byte big-endian length)
    parse(buf) -> list | None       the next message: a JSON array whose first item is its kind

A returned value (`["value", text]`, up to plaindata.MAX_BYTES) is not parsed here: it comes back
as ["value", raw body] for the checker process to parse and decode. Any other message (ready,
raised, unencodable, the supervisor's reports) is parsed only if it is at most SMALL bytes, and
never holds a JSON object (whose keys the parser would hash). Anything else ends the item
(outcome.Ended, crashed).
"""
from __future__ import annotations

import json
import struct

from loraplace.sandbox import plaindata
from loraplace.sandbox.outcome import Ended

SMALL = 64 << 10
LARGEST = plaindata.MAX_BYTES + 4096


def body(buf: bytearray) -> bytes | None:
    """The next whole frame's body, removed from `buf`; None until it has arrived."""
    if len(buf) < 4:
        return None
    n = struct.unpack(">I", bytes(buf[:4]))[0]
    if n > LARGEST:
        raise Ended("crashed", "message larger than the plain-data limit")
    if len(buf) < 4 + n:
        return None
    out = bytes(buf[4:4 + n])
    del buf[:4 + n]
    return out


def _no_object(pairs):
    raise ValueError("a JSON object in a frame")


def parse(buf: bytearray):
    """The next message from the sandbox in `buf`, None until it has arrived."""
    raw = body(buf)
    if raw is None:
        return None
    if raw.startswith(b'["value",'):
        return ["value", raw]
    if len(raw) > SMALL:
        raise Ended("crashed", "message larger than the limit for its kind")
    try:
        msg = json.loads(raw.decode("ascii"), object_pairs_hook=_no_object)
    except (ValueError, RecursionError):
        raise Ended("crashed", "malformed message from the sandbox") from None
    if type(msg) is not list or not msg or type(msg[0]) is not str or msg[0] == "value":
        raise Ended("crashed", "malformed message from the sandbox")
    return msg


def exception_info(fields) -> dict | None:
    """[type, mro, errno, msg] of an exception, as the worker sends it; None if ill-formed."""
    if not (type(fields) is list and len(fields) == 4):
        return None
    exc, mro, no, msg = fields
    if (type(exc) is str and type(msg) is str and type(mro) is list
            and all(type(c) is str for c in mro) and (no is None or type(no) is int)):
        return {"type": exc, "mro": mro, "errno": no, "msg": msg}
    return None
