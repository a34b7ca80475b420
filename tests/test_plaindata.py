"""loraplace.evidence.plaindata: what crosses the sandbox boundary is builtin values only."""
from __future__ import annotations

import collections
import math

import pytest

from loraplace.evidence import plaindata as pd

ROUND_TRIP = [None, True, False, 0, -7, 2**200, -(2**70), 1.5, -0.0, math.inf, "", "héllo",
              "\ud800", b"\x00\xff", 3 + 4j, [1, [2, (3,)]], (1, "a", None), {1: "a", (2, 3): [4]},
              {"k": {"n": {1, 2}}}, frozenset({1, (2,)}), set(), (), []]


@pytest.mark.parametrize("value", ROUND_TRIP, ids=[repr(v)[:20] for v in ROUND_TRIP])
def test_round_trip_keeps_type_and_value(value):
    back = pd.decode(pd.encode(value))
    assert back == value and type(back) is type(value)


def test_nan_and_negative_zero():
    assert math.isnan(pd.decode(pd.encode(math.nan)))
    assert math.copysign(1, pd.decode(pd.encode(-0.0))) == -1


@pytest.mark.parametrize("value,expected", [
    (collections.Counter("aab"), {"a": 2, "b": 1}), (collections.namedtuple("P", "x y")(1, 2), (1, 2)),
    (collections.OrderedDict(a=1), {"a": 1}), (type("S", (str,), {"__eq__": lambda s, o: True})("x"), "x")])
def test_builtin_subclasses_cross_as_their_base(value, expected):
    back = pd.decode(pd.encode(value))
    assert back == expected and type(back) is type(expected)
    assert back != "something else"  # no custom __eq__ survives


@pytest.mark.parametrize("value", [object(), (i for i in ()), type("E", (), {"__eq__": lambda s, o: True})(),
                                   eval("[" * 100 + "]" * 100)])
def test_non_plain_values_are_refused(value):
    with pytest.raises(pd.Unencodable):
        pd.encode(value)


@pytest.mark.parametrize("text", ['{"tuple": 1}', '{"dict": [[1]]}', '{"set": [[1]]}', '{"x": 1}',
                                  '{"a": 1, "b": 2}', '{"bytes": "zz"}', '{"int": 5}', "nope",
                                  "[" * 100_000 + "]" * 100_000, '{"complex": ["a", 1]}',
                                  "1" * 5000, 5])
def test_decode_is_strict(text):
    with pytest.raises(pd.Malformed):
        pd.decode(text)
