"""Override grammar: a parametrized table of valid and malformed overrides (lazycfg._grammar)."""

from __future__ import annotations

import math

import pytest

from lazycfg import OverrideError
from lazycfg._grammar import Override, parse_key_path, parse_override, parse_value


def ov(kind: str, keys: tuple, value: object = None, has_value: bool = True) -> Override:
    return Override("", kind, keys, value, has_value)


VALID = [
    # --- plain sets and scalars
    pytest.param("a=1", ov("set", ("a",), 1), id="int"),
    pytest.param("a=-2", ov("set", ("a",), -2), id="negative-int"),
    pytest.param("a=+3", ov("set", ("a",), 3), id="plus-int"),
    pytest.param("a=1_000", ov("set", ("a",), 1000), id="int-underscore"),
    pytest.param("a=0x10", ov("set", ("a",), 16), id="hex-int"),
    pytest.param("a=1e-3", ov("set", ("a",), 1e-3), id="float-exp"),
    pytest.param("a=1e3", ov("set", ("a",), 1000.0), id="float-exp-is-float"),
    pytest.param("a=.5", ov("set", ("a",), 0.5), id="float-leading-dot"),
    pytest.param("a=-0.25", ov("set", ("a",), -0.25), id="negative-float"),
    pytest.param("a=inf", ov("set", ("a",), math.inf), id="inf"),
    pytest.param("a=-inf", ov("set", ("a",), -math.inf), id="neg-inf"),
    pytest.param("a=true", ov("set", ("a",), True), id="true"),
    pytest.param("a=True", ov("set", ("a",), True), id="True"),
    pytest.param("a=TRUE", ov("set", ("a",), True), id="TRUE"),
    pytest.param("a=false", ov("set", ("a",), False), id="false"),
    pytest.param("a=False", ov("set", ("a",), False), id="False"),
    pytest.param("a=null", ov("set", ("a",), None), id="null"),
    pytest.param("a=None", ov("set", ("a",), None), id="None"),
    pytest.param("a=NONE", ov("set", ("a",), None), id="NONE"),
    pytest.param("a=", ov("set", ("a",), ""), id="empty-value"),
    pytest.param("a=abc", ov("set", ("a",), "abc"), id="bare-string"),
    pytest.param("a=hello world", ov("set", ("a",), "hello world"), id="string-with-space"),
    pytest.param("a=  padded  ", ov("set", ("a",), "padded"), id="string-stripped"),
    pytest.param("a=abc:def", ov("set", ("a",), "abc:def"), id="string-with-colon"),
    pytest.param("a=s3://bucket/x", ov("set", ("a",), "s3://bucket/x"), id="url"),
    pytest.param("a=b=c", ov("set", ("a",), "b=c"), id="value-with-equals"),
    pytest.param("a=1,2", ov("set", ("a",), "1,2"), id="bare-comma-is-string"),
    pytest.param("a=1.2.3", ov("set", ("a",), "1.2.3"), id="version-string"),
    pytest.param("a=480p", ov("set", ("a",), "480p"), id="digits-then-letters"),
    pytest.param("a=/tmp/x.py", ov("set", ("a",), "/tmp/x.py"), id="path-string"),
    pytest.param("a=bfloat16", ov("set", ("a",), "bfloat16"), id="dtype-name"),
    # --- quoting
    pytest.param("a='quoted str'", ov("set", ("a",), "quoted str"), id="single-quoted"),
    pytest.param('a="double"', ov("set", ("a",), "double"), id="double-quoted"),
    pytest.param("a='true'", ov("set", ("a",), "true"), id="quoted-true-is-str"),
    pytest.param("a='1'", ov("set", ("a",), "1"), id="quoted-int-is-str"),
    pytest.param('a="x,y"', ov("set", ("a",), "x,y"), id="quoted-comma"),
    pytest.param("a='it\\'s'", ov("set", ("a",), "it's"), id="escaped-quote"),
    pytest.param('a="a\\nb"', ov("set", ("a",), "a\nb"), id="escaped-newline"),
    pytest.param("a=''", ov("set", ("a",), ""), id="quoted-empty"),
    pytest.param("a='[1, 2]'", ov("set", ("a",), "[1, 2]"), id="quoted-brackets"),
    # --- interpolation kept verbatim
    pytest.param("a=${b.c}", ov("set", ("a",), "${b.c}"), id="interp"),
    pytest.param("a=${now:%Y-%m-%d}", ov("set", ("a",), "${now:%Y-%m-%d}"), id="interp-now"),
    pytest.param("a=foo_${job.group}", ov("set", ("a",), "foo_${job.group}"), id="interp-embedded"),
    pytest.param(
        "a=${oc.env:HOME,/tmp}", ov("set", ("a",), "${oc.env:HOME,/tmp}"), id="interp-env-default"
    ),
    pytest.param("a=[${x}, 2]", ov("set", ("a",), ["${x}", 2]), id="interp-in-list"),
    # --- lists, tuples, dicts
    pytest.param("a=[]", ov("set", ("a",), []), id="empty-list"),
    pytest.param("a=[1, 2]", ov("set", ("a",), [1, 2]), id="list"),
    pytest.param("a=[1,2,]", ov("set", ("a",), [1, 2]), id="list-trailing-comma"),
    pytest.param("a=[a, b]", ov("set", ("a",), ["a", "b"]), id="list-bare-words"),
    pytest.param("a=[a b, c]", ov("set", ("a",), ["a b", "c"]), id="list-word-with-space"),
    pytest.param("a=['x,y', z]", ov("set", ("a",), ["x,y", "z"]), id="list-quoted-comma"),
    pytest.param("a=[1, [2, [3]]]", ov("set", ("a",), [1, [2, [3]]]), id="nested-list"),
    pytest.param(
        "a=[true, null, 1.5]", ov("set", ("a",), [True, None, 1.5]), id="list-mixed-scalars"
    ),
    pytest.param("a=()", ov("set", ("a",), ()), id="empty-tuple"),
    pytest.param("a=(1, 2)", ov("set", ("a",), (1, 2)), id="tuple"),
    pytest.param("a=(1,)", ov("set", ("a",), (1,)), id="one-tuple"),
    pytest.param("a=(704, 1280)", ov("set", ("a",), (704, 1280)), id="video-size-tuple"),
    pytest.param("a={}", ov("set", ("a",), {}), id="empty-dict"),
    pytest.param("a={'a': 1}", ov("set", ("a",), {"a": 1}), id="python-dict"),
    pytest.param("a={k: v}", ov("set", ("a",), {"k": "v"}), id="dict-bare-words"),
    pytest.param("a={0: 0.5, 1: 0.25}", ov("set", ("a",), {0: 0.5, 1: 0.25}), id="dict-int-keys"),
    pytest.param("a={a: {b: [1, 2]}}", ov("set", ("a",), {"a": {"b": [1, 2]}}), id="nested-dict"),
    pytest.param("a=[{a: 1}, {b: 2}]", ov("set", ("a",), [{"a": 1}, {"b": 2}]), id="list-of-dicts"),
    pytest.param("a={x: (1, 2)}", ov("set", ("a",), {"x": (1, 2)}), id="dict-of-tuple"),
    pytest.param("a={a: 1,}", ov("set", ("a",), {"a": 1}), id="dict-trailing-comma"),
    pytest.param("a=[ 1 , 2 ]", ov("set", ("a",), [1, 2]), id="list-spaces"),
    pytest.param("a=[1; 2]", ov("set", ("a",), ["1; 2"]), id="semicolon-in-bare-word"),
    # --- paths
    pytest.param("a.b.c=1", ov("set", ("a", "b", "c"), 1), id="dotted"),
    pytest.param("a.blocks.0.x=1", ov("set", ("a", "blocks", 0, "x"), 1), id="dot-index"),
    pytest.param("a.blocks[0].x=1", ov("set", ("a", "blocks", 0, "x"), 1), id="bracket-index"),
    pytest.param("a[0][1]=1", ov("set", ("a", 0, 1), 1), id="double-bracket"),
    pytest.param("a['k.with.dots']=1", ov("set", ("a", "k.with.dots"), 1), id="quoted-key"),
    pytest.param('a["x"].y=1', ov("set", ("a", "x", "y"), 1), id="double-quoted-key"),
    pytest.param("my-key=1", ov("set", ("my-key",), 1), id="dash-in-key"),
    pytest.param("a.*.b=false", ov("set", ("a", "*", "b"), False), id="glob"),
    pytest.param("a[*].b=1", ov("set", ("a", "*", "b"), 1), id="bracket-glob"),
    pytest.param("a.wandb*.b=1", ov("set", ("a", "wandb*", "b"), 1), id="partial-glob"),
    pytest.param("a.*.*.b=1", ov("set", ("a", "*", "*", "b"), 1), id="double-glob"),
    pytest.param(" a.b =1", ov("set", ("a", "b"), 1), id="key-spaces-stripped"),
    # --- prefixes
    pytest.param("+a.b=1", ov("add", ("a", "b"), 1), id="add"),
    pytest.param("++a.b=1", ov("force", ("a", "b"), 1), id="force"),
    pytest.param("~a.b", ov("delete", ("a", "b"), None, False), id="delete"),
    pytest.param("~a.b=3", ov("delete", ("a", "b"), 3), id="delete-if-equal"),
    pytest.param("~a[0]", ov("delete", ("a", 0), None, False), id="delete-index"),
    pytest.param("a+=1", ov("append", ("a",), 1), id="append"),
    pytest.param("a.b+=[1, 2]", ov("append", ("a", "b"), [1, 2]), id="extend"),
    pytest.param("a+=x", ov("append", ("a",), "x"), id="append-string"),
    # --- group choices parse like any set
    pytest.param("optimizer=adamw", ov("set", ("optimizer",), "adamw"), id="group-choice"),
    pytest.param(
        "callbacks=[basic,wandb]", ov("set", ("callbacks",), ["basic", "wandb"]), id="multi-choice"
    ),
    pytest.param("net=cosmos_v1_7B", ov("set", ("net",), "cosmos_v1_7B"), id="option-name"),
]


@pytest.mark.parametrize("text,expected", VALID)
def test_valid(text: str, expected: Override) -> None:
    got = parse_override(text)
    assert (got.kind, got.keys, got.has_value) == (expected.kind, expected.keys, expected.has_value)
    if isinstance(expected.value, float) and math.isnan(expected.value):
        assert math.isnan(got.value)
    else:
        assert got.value == expected.value
        assert type(got.value) is type(expected.value)
    assert got.text == text


MALFORMED = [
    pytest.param("a", "missing '='", id="no-equals"),
    pytest.param("=1", "empty key", id="empty-key"),
    pytest.param("+=1", "empty key", id="empty-key-append"),
    pytest.param("a..b=1", "empty path segment", id="double-dot"),
    pytest.param(".a=1", "empty path segment", id="leading-dot"),
    pytest.param("a.=1", "path ends with '.'", id="trailing-dot"),
    pytest.param("a[x]=1", "list index must be an integer", id="bad-index"),
    pytest.param("a[0=1", "unclosed '['", id="unclosed-bracket"),
    pytest.param("a[0]b=1", "expected '.' or '['", id="junk-after-bracket"),
    pytest.param("a b=1", "unexpected character", id="space-in-key"),
    pytest.param("a/b=1", "unexpected character", id="slash-in-key"),
    pytest.param("+++a=1", "too many prefix", id="triple-plus"),
    pytest.param("+~a=1", "too many prefix", id="plus-tilde"),
    pytest.param("+a+=1", "cannot be combined", id="add-append"),
    pytest.param("++a+=1", "cannot be combined", id="force-append"),
    pytest.param("a=[1, 2", "missing ']'", id="unclosed-list"),
    pytest.param("a=(1, 2", "missing ')'", id="unclosed-tuple"),
    pytest.param("a={a: 1", "missing '}'", id="unclosed-dict"),
    pytest.param("a=[1]x", "unexpected text after the closing bracket", id="junk-after-list"),
    pytest.param("a=[1,,2]", "empty element", id="empty-element"),
    pytest.param("a=[1 2 [3]]", "inside a bare word", id="bracket-in-word"),
    pytest.param("a={a 1}", "expected ':'", id="dict-missing-colon"),
    pytest.param("a={[1]: 2}", "dict key must be a scalar", id="dict-list-key"),
    pytest.param("a='abc", "unterminated", id="unterminated-quote"),
    pytest.param("a='abc'x", "after the closing quote", id="junk-after-quote"),
    pytest.param("a=[${x, 1]", "unterminated '${'", id="unterminated-interp-in-list"),
    pytest.param("--foo=1", "no leading '--'", id="flag-like"),
]


@pytest.mark.parametrize("text,message", MALFORMED)
def test_malformed(text: str, message: str) -> None:
    with pytest.raises(OverrideError) as info:
        parse_override(text)
    msg = str(info.value)
    assert message in msg
    assert repr(text) in msg  # quotes the override
    assert "^" in msg  # and points at the problem


def test_caret_points_at_problem() -> None:
    with pytest.raises(OverrideError) as info:
        parse_override("trainer.max_iter=[1,2")
    lines = str(info.value).splitlines()
    text_line, caret_line = lines[-2], lines[-1]
    assert text_line.strip() == "trainer.max_iter=[1,2"
    assert text_line.index("[") == caret_line.index("^")


def test_non_string_override() -> None:
    with pytest.raises(OverrideError, match="must be a string"):
        parse_override(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text,keys",
    [
        pytest.param("a", ["a"], id="one"),
        pytest.param("a.b.0", ["a", "b", 0], id="digits-int"),
        pytest.param("a[2].b", ["a", 2, "b"], id="bracket"),
        pytest.param("a['x.y']", ["a", "x.y"], id="quoted"),
    ],
)
def test_parse_key_path(text: str, keys: list) -> None:
    assert parse_key_path(text) == keys


def test_parse_value_directly() -> None:
    assert parse_value("[a, {b: 1}]") == ["a", {"b": 1}]
    assert parse_value("nan") != parse_value("nan")  # float nan


def test_override_repr_and_path() -> None:
    o = parse_override("a.blocks[0].x=1")
    assert o.path == "a.blocks.0.x"
    assert "a.blocks[0].x=1" in repr(o)
