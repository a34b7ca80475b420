"""loraplace.sandbox.plaindata: what crosses the sandbox boundary is builtin values only."""
from __future__ import annotations

import collections
import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loraplace.sandbox import plaindata as pd

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


_json_trees = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63) + 1, 2**63 - 1) | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(_json_trees)
def test_dumps_is_json_dumps(tree):
    """The sandbox writes JSON with `_json`'s encoder directly (no `json` import there): the text
    must be exactly what json.dumps would write, NaN, infinities and lone surrogates included."""
    assert pd.dumps(tree) == json.dumps(tree, ensure_ascii=True, allow_nan=True,
                                        separators=(",", ":"))


def test_dumps_refuses_what_json_refuses():
    with pytest.raises(TypeError, match="not JSON serializable"):
        pd.dumps([object()])
