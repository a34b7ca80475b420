"""Plain data across the sandbox boundary: builtin values <-> JSON text, strictly bounded.

    encode(value) -> str      (JSON; raises Unencodable for anything that is not plain data)
    decode(text)  -> value    (raises Malformed for anything that is not exactly this format)

Plain data: None, bool, int, float, complex, str, bytes, and list / tuple / dict / set /
frozenset of plain data, at most MAX_DEPTH deep and MAX_NODES values. JSON carries None, bool,
small int, float (NaN / Infinity included), str (lone surrogates survive as escapes) and list
directly; every other type is a one-key object: {"tuple": [...]}, {"set": [...]},
{"frozenset": [...]}, {"dict": [[k, v], ...]}, {"bytes": "hex"}, {"complex": [re, im]},
{"int": "hex"} (|i| >= 2**63, so no digit limit applies).

Who runs what: the sandbox worker encodes the candidate's return values (an honest subclass of
a builtin -- Counter, namedtuple, IntEnum, numpy.float64 -- is sent as its builtin base; the
completion can patch that code in its own process, which only changes the *values* it sends).
The host decodes with this module, in a process that never runs completion code (the checker
process, loraplace.sandbox.checker, under the item's deadline): `decode` builds values only with
builtin constructors, so nothing it returns has a custom `__eq__`, `__hash__` or `__bool__`, and
the official `check` compares builtin values only. Decoding is bounded: MAX_BYTES of text,
MAX_DEPTH, MAX_NODES values, and no set / dict is built whose members share one hash more than
MAX_SAME_HASH times (ints that are multiples of 2**61 - 1 all hash alike: building a set of them
is quadratic), checked by sorting the members' hashes, before any hash table is built.

This file imports nothing but the stdlib, and at import time only `_json`, the C encoder behind
`json.dumps`: every sandbox loads it before the completion runs, and `import json` would pull in
`re` (~10 ms of CPU per item). `json` and `math` are imported by `decode`, on the host only.
"""
from __future__ import annotations

try:
    from _json import encode_basestring_ascii as _c_ascii
    from _json import make_encoder as _c_make_encoder
except ImportError:  # pragma: no cover -- CPython has it; elsewhere json.dumps does the same
    _c_make_encoder = None

MAX_DEPTH = 64
MAX_NODES = 1_000_000
MAX_BYTES = 16 << 20
MAX_SAME_HASH = 16  # members of one set / dict keys sharing one hash: more is a hash flood
_BIG = 1 << 63
TAGS = ("tuple", "set", "frozenset", "dict", "bytes", "complex", "int")


class Unencodable(TypeError):
    """The value is not plain data (named in the message)."""


class Malformed(ValueError):
    """The text is not plain data in this format."""


def _enc(v, depth: int, count: list):
    count[0] += 1
    if depth > MAX_DEPTH or count[0] > MAX_NODES:
        raise Unencodable(f"value deeper than {MAX_DEPTH} or larger than {MAX_NODES} values")
    if v is None or v is True or v is False:
        return v
    if isinstance(v, bool):
        return bool(v)
    if isinstance(v, int):
        i = int.__index__(v)
        return i if -_BIG < i < _BIG else {"int": format(i, "x")}
    if isinstance(v, float):
        return float.__float__(v)
    if isinstance(v, str):
        return str.__str__(v)
    if isinstance(v, complex):
        return {"complex": [complex.__complex__(v).real, complex.__complex__(v).imag]}
    if isinstance(v, (bytes, bytearray)):
        return {"bytes": bytes(v).hex()}
    if isinstance(v, list):
        return [_enc(x, depth + 1, count) for x in list.__iter__(v)]
    if isinstance(v, tuple):
        return {"tuple": [_enc(x, depth + 1, count) for x in tuple.__iter__(v)]}
    if isinstance(v, frozenset):
        return {"frozenset": [_enc(x, depth + 1, count) for x in frozenset.__iter__(v)]}
    if isinstance(v, set):
        return {"set": [_enc(x, depth + 1, count) for x in set.__iter__(v)]}
    if isinstance(v, dict):
        return {"dict": [[_enc(k, depth + 1, count), _enc(x, depth + 1, count)]
                         for k, x in dict.items(v)]}
    if hasattr(type(v), "__index__") and not isinstance(v, (list, tuple)):  # numpy.int64, ...
        return _enc(int(v.__index__()), depth, count)
    raise Unencodable(f"not plain data: {type(v).__module__}.{type(v).__qualname__}")


def encode(value) -> str:
    return dumps(_enc(value, 0, [0]))


def _not_json(o):
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")


def dumps(tree) -> str:
    """JSON text of a tree of None / bool / int / float / str / list / dict with str keys: the
    same text as json.dumps(tree, ensure_ascii=True, allow_nan=True, separators=(",", ":"))."""
    if _c_make_encoder is None:  # pragma: no cover
        import json
        return json.dumps(tree, ensure_ascii=True, allow_nan=True, separators=(",", ":"))
    if type(tree) is str:
        return _c_ascii(tree)
    # the call json.dumps makes for these options (markers=None: a tree built by _enc, or a
    # message of the worker, cannot be circular)
    return "".join(_c_make_encoder(None, _not_json, _c_ascii, None, ":", ",", False, False,
                                   True)(tree, 0))


def _items(payload, tag: str) -> list:
    if not isinstance(payload, list):
        raise Malformed(f"{tag!r} needs a list")
    return payload


def _dec(node, depth: int, count: list):
    count[0] += 1
    if depth > MAX_DEPTH or count[0] > MAX_NODES:
        raise Malformed(f"deeper than {MAX_DEPTH} or more than {MAX_NODES} values")
    t = type(node)
    if node is None or t is bool or t is int or t is str:
        return node
    if t is float:
        return node
    if t is list:
        return [_dec(x, depth + 1, count) for x in node]
    if t is not dict or len(node) != 1:
        raise Malformed(f"unexpected JSON {t.__name__}")
    (tag, payload), = node.items()
    if tag in ("tuple", "set", "frozenset"):
        items = [_dec(x, depth + 1, count) for x in _items(payload, tag)]
        if tag == "tuple":
            return tuple(items)
        _no_flood(items, tag)
        return set(items) if tag == "set" else frozenset(items)
    if tag == "dict":
        pairs = []
        for pair in _items(payload, tag):
            if type(pair) is not list or len(pair) != 2:
                raise Malformed("dict entries are [key, value] pairs")
            pairs.append((_dec(pair[0], depth + 1, count), _dec(pair[1], depth + 1, count)))
        _no_flood([k for k, _ in pairs], "dict key")
        return dict(pairs)
    if tag in ("bytes", "int") and type(payload) is str:
        try:
            return bytes.fromhex(payload) if tag == "bytes" else int(payload, 16)
        except ValueError as exc:
            raise Malformed(f"{tag}: {exc}") from None
    if tag == "complex" and type(payload) is list and len(payload) == 2 \
            and all(type(x) in (int, float) for x in payload):
        return complex(float(payload[0]), float(payload[1]))
    raise Malformed(f"unknown or ill-formed tag {tag!r} (valid: {', '.join(TAGS)})")


def _no_flood(members: list, what: str) -> None:
    """Malformed unless every member is hashable and no hash is shared by more than
    MAX_SAME_HASH members (hashes sorted: no hash table is built on the way)."""
    try:
        hashes = sorted(hash(m) for m in members)
    except TypeError as exc:  # unhashable member
        raise Malformed(f"{what}: {exc}") from None
    run = 1
    for a, b in zip(hashes, hashes[1:]):
        run = run + 1 if a == b else 1
        if run > MAX_SAME_HASH:
            raise Malformed(f"{what}: more than {MAX_SAME_HASH} members share one hash (a hash flood)")


def decode(text: str):
    import json

    if not isinstance(text, str) or len(text) > MAX_BYTES:
        raise Malformed(f"need a str of at most {MAX_BYTES} characters")
    try:
        node = json.loads(text, parse_constant=_constant)
    except (ValueError, RecursionError) as exc:
        raise Malformed(f"not JSON: {type(exc).__name__}: {str(exc)[:100]}") from None
    return _dec(node, 0, [0])


def _constant(name: str) -> float:
    import math

    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[name]
