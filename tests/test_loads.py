"""``loads`` must be a drop-in ``json.loads``: same values, same types, same refusals.

Every test runs on both implementations through the ``impl`` fixture. Wherever json can
tell us the right answer (a value, an error message, a position) the expected result is
derived from ``json.loads`` itself; only fluxjournal's own rules (invalid UTF-8, the
nesting limit, memoryview input) are hard-coded.
"""

from __future__ import annotations

import itertools
import json
import math
import pickle
import random
import sys

import pytest
from conftest import BEYOND_2_GIB, DATA, needs_big_memory
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fluxjournal.errors import POSITIONED_MESSAGES, JSONDecodeError

MAX_DEPTH = 512
DEPTH_MSG = f"Nesting deeper than {MAX_DEPTH} levels"
UTF8_MSG = "Invalid UTF-8 sequence"


#: Every encoding json.detect_encoding recognises, with and without a BOM.
ENCODINGS = (
    "utf-8",
    "utf-8-sig",
    "utf-16",
    "utf-16-le",
    "utf-16-be",
    "utf-32",
    "utf-32-le",
    "utf-32-be",
)

#: The recorded payloads (as the ``all_payloads`` fixture), for strategies to sample from.
PAYLOADS = [
    line for path in sorted(DATA.glob("*.jsonl")) for line in path.read_bytes().splitlines()
]

HYPOTHESIS = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def same(a, b) -> bool:
    """Deep equality that also demands identical types, NaN == NaN and signed zeros.

    Iterative, so documents nested MAX_DEPTH deep compare without a RecursionError.
    """
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if type(x) is not type(y):
            return False
        if isinstance(x, float):
            if math.isnan(x) or math.isnan(y):
                if not (math.isnan(x) and math.isnan(y)):
                    return False
            elif x != y or math.copysign(1.0, x) != math.copysign(1.0, y):
                return False
        elif isinstance(x, list):
            if len(x) != len(y):
                return False
            stack.extend(zip(x, y))
        elif isinstance(x, dict):
            if len(x) != len(y) or any(
                type(k) is not type(m) or k != m for k, m in zip(x, y)
            ):  # the same keys in the same order
                return False
            stack.extend(zip(x.values(), y.values()))
        elif x != y:
            return False
    return True


def assert_same(got, expected) -> None:
    assert same(got, expected), f"got {got!r}, json.loads gives {expected!r}"


def json_outcome(doc):
    """(True, value) when json.loads accepts ``doc``, else (False, the exception)."""
    try:
        return True, json.loads(doc)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        return False, exc


def position_in_input(doc, char_pos: int) -> int:
    """json's character offset, translated to an offset into the input as given."""
    if isinstance(doc, str):
        return char_pos
    raw = bytes(doc)
    encoding = json.detect_encoding(raw)
    if encoding not in ("utf-8", "utf-8-sig"):
        return char_pos  # UTF-16/32: positions are characters of the decoded text
    skip = 3 if encoding == "utf-8-sig" else 0
    text = raw[skip:].decode("utf-8", "surrogatepass")
    return skip + len(text[:char_pos].encode("utf-8", "surrogatepass"))


def describe(doc) -> str:
    """A readable form of any input, memoryviews included."""
    if isinstance(doc, memoryview):
        return f"memoryview({bytes(doc)!r})"
    return repr(doc)


def outcome_text(outcome) -> str:
    """A short account of what json.loads did."""
    if isinstance(outcome, BaseException):
        return f"{type(outcome).__name__}: {str(outcome)[:200]}"
    return repr(outcome)


def mismatch_with_json(impl, doc, json_doc=None) -> str | None:
    """Decode ``doc`` with impl and json (``json_doc`` if json cannot take ``doc``).

    Returns None when impl behaves like json, else a description of the difference.
    """
    json_doc = doc if json_doc is None else json_doc
    accepted, expected = json_outcome(json_doc)
    shown = describe(doc)
    told = outcome_text(expected)
    try:
        got = impl.loads(doc)
    except JSONDecodeError as exc:
        if accepted:
            return f"{shown}: impl raised {exc!r}, json.loads gives {told}"
        if isinstance(expected, json.JSONDecodeError) and expected.msg in POSITIONED_MESSAGES:
            want = (expected.msg, position_in_input(doc, expected.pos))
            if (exc.msg, exc.pos) != want:
                return f"{shown}: impl says {(exc.msg, exc.pos)}, json says {want}"
        return None
    except Exception as exc:  # anything but JSONDecodeError is a failure
        return f"{shown}: impl raised {outcome_text(exc)}, json: {told}"
    if not accepted:
        return f"{shown}: impl returned {got!r}, json.loads raises {told}"
    if not same(got, expected):
        return f"{shown}: impl returned {got!r}, json.loads gives {told}"
    return None


def assert_like_json(impl, doc, json_doc=None) -> None:
    problem = mismatch_with_json(impl, doc, json_doc)
    assert problem is None, problem


def byte_forms(raw: bytes):
    """The same bytes as bytes, bytearray and memoryview."""
    return [raw, bytearray(raw), memoryview(raw)]


# ---------------------------------------------------------------------------
# 1. Recorded payloads
# ---------------------------------------------------------------------------


def test_recorded_payloads_decode_like_json(impl, all_payloads):
    """Every real journal response decodes to json's value, whatever the input type."""
    assert all_payloads, f"no captures found in {DATA}"
    for index, payload in enumerate(all_payloads):
        expected = json.loads(payload)
        for form in [*byte_forms(payload), payload.decode("utf-8")]:
            got = impl.loads(form)
            assert same(got, expected), f"payload {index} as {type(form).__name__}"


# ---------------------------------------------------------------------------
# 2. Generated documents
# ---------------------------------------------------------------------------

SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "/": "\\/",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _u_escape(code: int, upper: bool) -> str:
    return ("\\u%04X" if upper else "\\u%04x") % code


def escape_mixed(text: str, rng: random.Random) -> str:
    """A JSON string literal mixing raw characters, short escapes and \\u escapes."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        roll = rng.random()
        if ch in SHORT_ESCAPES and roll < 0.5:
            out.append(SHORT_ESCAPES[ch])
        elif code < 0x20 or ch in '"\\' or roll < 0.3:
            upper = rng.random() < 0.5
            if code > 0xFFFF:
                high, low = divmod(code - 0x10000, 0x400)
                out.append(_u_escape(0xD800 + high, upper) + _u_escape(0xDC00 + low, upper))
            else:
                out.append(_u_escape(code, upper))
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


# Characters of every kind: controls, quotes, backslashes, non-ASCII, astral, lone surrogates.
CHARS = st.one_of(
    st.characters(),
    st.sampled_from('"\\/\b\f\n\r\t\x00\x1f\x7f\u00e9\u2028\ufeff\uffff\U0001f600\U0010ffff'),
    st.integers(0xD800, 0xDFFF).map(chr),
)
TEXTS = st.text(alphabet=CHARS, max_size=12)
# A small key pool so objects often repeat a key (json keeps the last value).
KEYS = st.one_of(st.sampled_from(["a", "b", "\u00e9", "\ud800", "\U0001f600", ""]), TEXTS)
NUMBER_TEXT = st.from_regex(
    r"-?(0|[1-9][0-9]{0,30})(\.[0-9]{1,20})?([eE][-+]?[0-9]{1,3})?", fullmatch=True
)

SCALARS = st.one_of(
    st.sampled_from(
        ["null", "true", "false", "NaN", "Infinity", "-Infinity", "-0.0", "-0", "0", "1e400"]
    ).map(lambda text: ("lit", text)),
    st.integers().map(lambda n: ("lit", str(n))),
    st.integers(min_value=-(2**200), max_value=2**200).map(lambda n: ("lit", str(n))),
    st.floats().map(lambda x: ("lit", json.dumps(x))),
    NUMBER_TEXT.map(lambda text: ("lit", text)),
    TEXTS.map(lambda text: ("str", text)),
)
NODES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5).map(lambda items: ("arr", items)),
        st.lists(st.tuples(KEYS, children), max_size=5).map(lambda pairs: ("obj", pairs)),
    ),
    max_leaves=30,
)
WHITESPACE = st.lists(st.sampled_from(["", "", " ", "\n", "\t", "\r\n", " \t\n\r "]), min_size=1)


def render(node, ensure_ascii: bool, style: str, rng: random.Random, spaces) -> str:
    """JSON text for a generated node; objects may repeat keys, as raw text allows."""
    kind, body = node
    if kind == "lit":
        return body
    if kind == "str":
        if style == "mixed":
            return escape_mixed(body, rng)
        return json.dumps(body, ensure_ascii=ensure_ascii)
    if kind == "arr":
        parts = [render(item, ensure_ascii, style, rng, spaces) for item in body]
        return "[" + next(spaces) + f"{next(spaces)},{next(spaces)}".join(parts) + "]"
    members = [
        render(("str", key), ensure_ascii, style, rng, spaces)
        + next(spaces)
        + ":"
        + next(spaces)
        + render(value, ensure_ascii, style, rng, spaces)
        for key, value in body
    ]
    return "{" + next(spaces) + f"{next(spaces)},{next(spaces)}".join(members) + next(spaces) + "}"


@st.composite
def documents(draw) -> str:
    node = draw(NODES)
    spaces = itertools.cycle(draw(WHITESPACE))
    style = draw(st.sampled_from(["dumps", "mixed"]))
    rng = random.Random(draw(st.integers(0, 2**32)))
    body = render(node, draw(st.booleans()), style, rng, spaces)
    return next(spaces) + body + next(spaces)


@settings(max_examples=250, **HYPOTHESIS)
@given(text=documents())
def test_generated_documents_decode_like_json(impl, text):
    """Generated documents decode to json's value, as str and as UTF-8 bytes."""
    expected = json.loads(text)
    assert_same(impl.loads(text), expected)
    raw = text.encode("utf-8", "surrogatepass")
    assert_same(json.loads(raw), expected)
    assert_same(impl.loads(raw), expected)


@settings(max_examples=150, **HYPOTHESIS)
@given(text=documents(), encoding=st.sampled_from(ENCODINGS))
def test_generated_documents_in_every_encoding(impl, text, encoding):
    """Bytes follow json.detect_encoding: BOMs, UTF-16 and UTF-32 decode like json."""
    raw = text.encode(encoding, "surrogatepass")
    assert_like_json(impl, raw)


# ---------------------------------------------------------------------------
# 3. Mutated payloads
# ---------------------------------------------------------------------------

FRAGMENTS = [
    b"[", b"]", b"{", b"}", b'"', b",", b":", b"\\", b" ", b"\n", b"\t", b"0", b"7", b"-",
    b".", b"e", b"E", b"+", b"n", b"t", b"f", b"\\u", b"\\ud800", b"\\udc00", b"\\u00e9",
    b"\\n", b"NaN", b"-Infinity", b"true", b"null", b"\x00", b"\x01", b"\x1f", b"\x7f",
    b"\xc3\xa9", b"\xf0\x9f\x98\x80", b"\xed\xa0\x80", b"\xff", b"\xc3", b"\xe2\x82",
    b"\x80", b"\xef\xbb\xbf", b"\xff\xfe",
]  # fmt: skip
POSITION = st.integers(0, 2**16)
EDITS = st.lists(
    st.one_of(
        st.tuples(st.just("delete"), POSITION, st.integers(1, 8)),
        st.tuples(st.just("insert"), POSITION, st.sampled_from(FRAGMENTS)),
        st.tuples(st.just("insert"), POSITION, st.binary(min_size=1, max_size=3)),
        st.tuples(st.just("replace"), POSITION, st.sampled_from(FRAGMENTS)),
        st.tuples(st.just("swap"), POSITION, POSITION),
        st.tuples(st.just("truncate"), POSITION, st.none()),
    ),
    min_size=1,
    max_size=5,
)


def mutate(payload: bytes, edits) -> bytes:
    buf = bytearray(payload)
    for op, where, arg in edits:
        at = where % (len(buf) + 1)
        if op == "delete":
            del buf[at : at + arg]
        elif op == "insert":
            buf[at:at] = arg
        elif op == "replace":
            buf[at : at + len(arg)] = arg
        elif op == "swap" and buf:
            other = arg % len(buf)
            at %= len(buf)
            buf[at], buf[other] = buf[other], buf[at]
        elif op == "truncate":
            del buf[at:]
    return bytes(buf)


@settings(max_examples=500, **HYPOTHESIS)
@given(payload=st.sampled_from(PAYLOADS), edits=EDITS)
@example(payload=PAYLOADS[0], edits=[("insert", 0, b"\x00")])  # read as UTF-16-BE, odd length
@example(payload=PAYLOADS[0], edits=[("insert", 2, b"\xff\\n")])  # bad byte, then an escape
@example(payload=PAYLOADS[0], edits=[("replace", 3, b"\\u00e9\xc3\xa9\xed\xa0\x80")])
def test_mutated_payloads_fail_like_json(impl, payload, edits):
    """Damaged real payloads: same value as json, or a JSONDecodeError at json's position."""
    mutated = mutate(payload, edits)
    assert_like_json(impl, mutated)
    try:
        text = mutated.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return
    assert_like_json(impl, text)


# ---------------------------------------------------------------------------
# 4. Error table
# ---------------------------------------------------------------------------

INVALID_DOCUMENTS = [
    "",
    "   ",
    "\n\t\r ",
    "[",
    "]",
    "{",
    "}",
    "[1,",
    "[1,]",
    "[,1]",
    "[1 2]",
    "[1,,2]",
    "[1}",
    '{"a"}',
    '{"a" 1}',
    '{"a":}',
    '{"a":1,}',
    '{"a":1 "b":2}',
    '{"a":1]',
    "{1:2}",
    "{'a':1}",
    '{"a":1,"b"',
    "nul",
    "tru",
    "fals",
    "nan",
    "inf",
    "NaNx",
    "-",
    "-a",
    "--1",
    "+1",
    "-NaN",
    "-Infinit",
    "Infinit",
    "01",
    "1.",
    ".5",
    "1e",
    "1e+",
    "1.e5",
    "0x10",
    "1 2",
    "[] []",
    "[1]x",
    '"abc',
    '"abc\\',
    '"\\',
    '"\\x"',
    '"\\U0041"',
    '"\\u"',
    '"\\u12"',
    '"\\u12g4"',
    '"\\ud800\\u"',
    '"\\ud800\\udc0"',
    '"\\ud800\\uzzzz"',
    '"a\x00b"',
    '"\x1f"',
    '"tab\there"',
    '"new\nline"',
    '{"k\x01": 1}',
    "[1,\n2,\n,3]",
    '{\n  "a": 1,\n  "b": tru\n}',
    '"\u00e9" x',
    '["\u00e9", x]',
    '{"\u65e5\u672c": 1 2}',
    '["\U0001f600", tru]',
    '["\U0001f600\u00e9", "\x02"]',
    '"\ud800" 1',
    '["\ud83d\ude00", ]',
    "\ufeff[1]",
    "\ufeff",
    " \ufeff1",
    "[\ufeff]",
    '{"a":1}\n\n  ,',
]


@pytest.mark.parametrize("doc", INVALID_DOCUMENTS)
def test_error_table_matches_json(impl, doc):
    """Hand-written invalid documents: json's msg and pos, as str and in every encoding."""
    accepted, _ = json_outcome(doc)
    assert not accepted, "the table must hold documents json.loads refuses"
    problems = [mismatch_with_json(impl, doc)]
    for encoding in ENCODINGS:
        raw = doc.encode(encoding, "surrogatepass")
        problems += [mismatch_with_json(impl, form, raw) for form in byte_forms(raw)]
    problems = [problem for problem in problems if problem]
    assert not problems, "\n".join(problems)


def test_bom_on_str_is_refused_at_zero(impl):
    """A str starting with U+FEFF is refused like json, while UTF-8 bytes skip their BOM."""
    with pytest.raises(JSONDecodeError) as info:
        impl.loads("\ufeff[1]")
    assert (info.value.msg, info.value.pos) == (
        "Unexpected UTF-8 BOM (decode using utf-8-sig)",
        0,
    )
    assert impl.loads(b"\xef\xbb\xbf[1]") == [1]


def test_second_bom_in_bytes_is_not_a_bom_error(impl):
    """Bytes with two UTF-8 BOMs: json skips one and says "Expecting value" (byte 3)."""
    raw = b"\xef\xbb\xbf\xef\xbb\xbf[1]"
    accepted, expected = json_outcome(raw)
    assert not accepted and isinstance(expected, json.JSONDecodeError)
    with pytest.raises(JSONDecodeError) as info:
        impl.loads(raw)
    assert (info.value.msg, info.value.pos) == (expected.msg, 3)


# Our own rule: invalid UTF-8 is a JSONDecodeError at the first bad sequence (byte offset).
INVALID_UTF8 = [
    (b'"\xff"', 1),
    (b'"\x80"', 1),
    (b'"abc\xc3"', 4),
    (b'["ok", "\xe2\x82"]', 8),
    (b'"\xc0\xaf"', 1),
    (b'"\xe0\x80\xaf"', 1),
    (b'"\xf0\x80\x80\xaf"', 1),
    (b'"\xf4\x90\x80\x80"', 1),
    (b'"\xf5\x80\x80\x80"', 1),
    (b'"\xc3\xa9\xa9"', 3),
    (b'"\xed\xa0"', 1),
    (b'{"k\xff": 1}', 3),
    (b'{"k": "v\xfe"}', 8),
    (b'\xef\xbb\xbf"\xff"', 4),
    (b'"\\n\xff"', 3),
    (b'"\\u00e9\xc3"', 7),
    (b'"\xff\\n"', 1),
    (b'"ab\xe2\\u0041"', 3),
    (b'{"\xc3\\"": 1}', 2),
]


@pytest.mark.parametrize(("raw", "pos"), INVALID_UTF8)
def test_invalid_utf8_is_a_decode_error(impl, raw, pos):
    """Bad UTF-8 raises JSONDecodeError("Invalid UTF-8 sequence") where json's decode fails."""
    with pytest.raises(UnicodeDecodeError):
        json.loads(raw)
    for form in byte_forms(raw):
        with pytest.raises(JSONDecodeError) as info:
            impl.loads(form)
        assert (info.value.msg, info.value.pos) == (UTF8_MSG, pos), type(form).__name__


@pytest.mark.parametrize(
    "raw",
    [b'"\xed\xa0\x80"', b'"\xed\xbf\xbf"', b'["\xed\xa0\xbd\xed\xb8\x80"]', b'{"\xed\xb0\x80": 1}'],
)
def test_utf8_encoded_surrogates_are_accepted(impl, raw):
    """json decodes bytes with surrogatepass, so encoded lone surrogates are valid."""
    for form in byte_forms(raw):
        assert_same(impl.loads(form), json.loads(raw))


@pytest.mark.parametrize(
    "raw",
    [b"[\x001\x00]", b"1\x00\x00\x00\x00\x00\x11\x00", b"\xff\xfe1\x00\x00", b"\x00[\x00]\x00"],
)
def test_undecodable_utf16_utf32_is_a_decode_error(impl, raw):
    """Bytes json reads as UTF-16/32 but cannot decode: JSONDecodeError, not UnicodeError."""
    with pytest.raises(UnicodeDecodeError):
        json.loads(raw)
    for form in byte_forms(raw):
        with pytest.raises(JSONDecodeError):
            impl.loads(form)


# ---------------------------------------------------------------------------
# 5. Depth
# ---------------------------------------------------------------------------


def nested(depth: int, mixed: bool = False, objects: bool = False) -> tuple[str, list[int]]:
    """A document nested ``depth`` deep and the offsets of its opening brackets."""
    parts, closers, opens, at = [], [], [], 0
    for level in range(depth):
        use_object = objects or (mixed and level % 2 == 1)
        piece = '{"a":' if use_object else "["
        opens.append(at)
        parts.append(piece)
        closers.append("}" if use_object else "]")
        at += len(piece)
    return "".join(parts) + "1" + "".join(reversed(closers)), opens


SHAPES = {"arrays": {}, "objects": {"objects": True}, "mixed": {"mixed": True}}


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_max_depth_decodes(impl, shape, as_bytes):
    """Exactly MAX_DEPTH levels is allowed and decodes like json."""
    assert impl.MAX_DEPTH == MAX_DEPTH
    text, _ = nested(MAX_DEPTH, **SHAPES[shape])
    doc = text.encode() if as_bytes else text
    assert_same(impl.loads(doc), json.loads(doc))


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_one_level_too_deep_fails_at_its_bracket(impl, shape, as_bytes):
    """Level MAX_DEPTH + 1 is refused at the bracket that opens it."""
    text, opens = nested(MAX_DEPTH + 1, **SHAPES[shape])
    doc = text.encode() if as_bytes else text
    with pytest.raises(JSONDecodeError) as info:
        impl.loads(doc)
    assert (info.value.msg, info.value.pos) == (DEPTH_MSG, opens[MAX_DEPTH])
    if shape == "arrays":
        assert info.value.pos == 512


def test_depth_error_position_counts_characters_or_bytes(impl):
    """After non-ASCII text, the depth error is a char offset for str, a byte offset for bytes."""
    text = '["\u00e9\U0001f600", ' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "]"
    bracket = text.index("[", 1)
    expected_at = bracket + MAX_DEPTH - 1
    with pytest.raises(JSONDecodeError) as info:
        impl.loads(text)
    assert (info.value.msg, info.value.pos) == (DEPTH_MSG, expected_at)
    with pytest.raises(JSONDecodeError) as info:
        impl.loads(text.encode())
    assert (info.value.msg, info.value.pos) == (DEPTH_MSG, len(text[:expected_at].encode()))
    assert info.value.pos == expected_at + 4  # é is 2 bytes, the emoji 4


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 100_000 + "1" + "}" * 100_000,
        "[" * 100_000,
        '[{"a":' * 50_000,
    ],
    ids=["arrays", "objects", "unclosed-arrays", "unclosed-mixed"],
)
@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_very_deep_documents_raise_decode_error(impl, text, as_bytes):
    """100000 levels: a JSONDecodeError (no RecursionError, no crash) at level 513."""
    doc = text.encode() if as_bytes else text
    with pytest.raises(JSONDecodeError) as info:
        impl.loads(doc)
    if text.endswith(("]", "}")):  # balanced: the depth is the only problem
        _, opens = nested(MAX_DEPTH + 1, objects=text.startswith("{"))
        assert (info.value.msg, info.value.pos) == (DEPTH_MSG, opens[MAX_DEPTH])


# ---------------------------------------------------------------------------
# 6. Big integers
# ---------------------------------------------------------------------------

INTEGER_TEXTS = [
    "999999999999999999",
    "-999999999999999999",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551616",
    "123456789012345678901234567890",
    "-123456789012345678901234567890",
    "9" * 63,
    "9" * 64,
    "-" + "9" * 200,
]


@pytest.mark.parametrize("text", INTEGER_TEXTS)
def test_big_integers_are_exact(impl, text):
    """Integers of any size stay exact ints, inside containers too."""
    for doc in (text, text.encode(), f'{{"n": [{text}]}}'.encode()):
        got = impl.loads(doc)
        assert_same(got, json.loads(doc))
    assert type(impl.loads(text)) is int


@pytest.mark.parametrize("doc", ["1" * 5000 + ".0", "0." + "1" * 5000, "1" * 5000 + "e-4990"])
def test_long_floats_are_not_limited(impl, doc):
    """The int digit limit does not apply to floats: json gives a float."""
    assert_same(impl.loads(doc), json.loads(doc))
    assert_same(impl.loads(doc.encode()), json.loads(doc))


def _int_limit() -> int:
    if not hasattr(sys, "get_int_max_str_digits"):
        pytest.skip("this Python has no int digit limit")
    limit = sys.get_int_max_str_digits()
    if limit == 0 or limit >= 5000:
        pytest.skip("the int digit limit is off or above 5000")
    return limit


@pytest.mark.parametrize("sign", ["", "-"])
@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_too_long_integer_is_a_decode_error(impl, sign, as_bytes):
    """5000 digits: json raises ValueError; impl a JSONDecodeError (a ValueError)."""
    _int_limit()
    text = sign + "7" * 5000
    doc = text.encode() if as_bytes else text
    with pytest.raises(ValueError) as from_json:
        json.loads(doc)
    assert not isinstance(from_json.value, json.JSONDecodeError)
    with pytest.raises(JSONDecodeError) as info:
        impl.loads(doc)
    assert isinstance(info.value, ValueError)
    assert info.value.pos == 0


@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_too_long_integer_error_points_at_the_integer(impl, as_bytes):
    """The position names the integer, not an earlier long digit run inside a string."""
    _int_limit()
    text = '["' + "1" * 200 + '", 2.' + "5" * 300 + ", -" + "7" * 5000 + "]"
    doc = text.encode() if as_bytes else text
    with pytest.raises(JSONDecodeError) as info:
        impl.loads(doc)
    assert info.value.pos == text.index(", -") + 2


# ---------------------------------------------------------------------------
# 7. Types, duplicate keys, fresh results
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"1", int),
        (b"-0", int),
        (b"1.0", float),
        (b"1e2", float),
        (b"1E+2", float),
        (b"-0.0", float),
        (b"1e400", float),
        (b"NaN", float),
        (b"Infinity", float),
        (b"-Infinity", float),
        (b'"s"', str),
        (b"true", bool),
        (b"null", type(None)),
        (b"[]", list),
        (b"{}", dict),
    ],
)
def test_scalar_types(impl, raw, kind):
    """Each literal gives json's type and value (int vs float vs bool)."""
    got = impl.loads(raw)
    assert type(got) is kind
    assert_same(got, json.loads(raw))


def test_special_floats(impl):
    """-0.0 keeps its sign, 1e400 is inf, NaN and the infinities are accepted."""
    assert math.copysign(1.0, impl.loads(b"-0.0")) == -1.0
    assert math.copysign(1.0, impl.loads(b"0.0")) == 1.0
    assert impl.loads(b"1e400") == math.inf
    assert impl.loads(b"-1e400") == -math.inf
    assert math.isnan(impl.loads(b"NaN"))
    assert impl.loads(b"[Infinity, -Infinity]") == [math.inf, -math.inf]
    assert_same(impl.loads(b"1e-400"), 0.0)
    assert_same(impl.loads(b"-1e-400"), -0.0)


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1, "b": 2, "a": 3}',
        '{"a": 1, "\\u0061": 2, "b": 3}',
        '{"b": 1, "a": 2, "b": {"x": 1, "x": 2}, "c": 3, "a": 4}',
        '[{"k": 1, "k": 2}, {"k": 3}]',
    ],
)
def test_duplicate_keys_keep_last_value_at_first_position(impl, text):
    """The last duplicate's value wins, at the first key's place in the order, as in json."""
    got = impl.loads(text)
    expected = json.loads(text)
    assert_same(got, expected)
    if isinstance(expected, dict):
        assert list(got) == list(expected)


def test_results_are_fresh_objects(impl):
    """Mutating one result never shows up in a second decode of the same input."""
    raw = b'{"name": "alloc", "context": {"ranks": [0, 1], "k": "v"}, "ids": []}'
    first = impl.loads(raw)
    first["name"] = "changed"
    first["context"]["ranks"].append(2)
    first["context"]["k"] += "!"
    first["ids"].append("x")
    first["new"] = 1
    second = impl.loads(raw)
    assert_same(second, json.loads(raw))
    assert second is not first
    assert second["context"] is not first["context"]
    assert second["ids"] is not first["ids"]


def test_many_short_strings_decode_right(impl):
    """Thousands of distinct short keys and values (a string cache must not mix them up)."""
    pairs = [(f"k{n}", "v" * (n % 33) + str(n)) for n in range(5000)]
    raw = json.dumps(dict(pairs)).encode()
    other = json.dumps([value for _, value in reversed(pairs)]).encode()
    for _ in range(2):
        assert_same(impl.loads(raw), json.loads(raw))
        assert_same(impl.loads(other), json.loads(other))


# ---------------------------------------------------------------------------
# 8. Input types
# ---------------------------------------------------------------------------


def test_bytes_like_inputs(impl):
    """bytearray and memoryview decode like bytes; a memoryview slice reads only its part."""
    raw = b'{"a": [1, 2.5, "\xc3\xa9"]}'
    expected = json.loads(raw)
    for form in byte_forms(raw):
        assert_same(impl.loads(form), expected)
    big = bytearray(b'garbage[1, "x"]garbage')
    assert impl.loads(memoryview(big)[7:15]) == [1, "x"]
    assert impl.loads(memoryview(b"xx[1]yy")[2:5]) == [1]


@pytest.mark.parametrize("inside", [b"[1,x]", b"[1, ]", b'{"a": 1 ,}'])
def test_memoryview_slice_error_position_is_relative_to_the_slice(impl, inside):
    """Our rule: positions index the memoryview as given, not its underlying buffer; the
    message and position are those json.loads of the running Python gives the slice."""
    data = b"xxx" + inside + b"yyy"
    ok, expected = json_outcome(inside)
    assert not ok
    with pytest.raises(JSONDecodeError) as info:
        impl.loads(memoryview(data)[3 : 3 + len(inside)])
    assert (info.value.msg, info.value.pos) == (expected.msg, expected.pos)


TRAILING_COMMAS = [
    "[1,]",
    "[1 , ]",
    "[1,\n\t ]",
    '{"a":1,}',
    '{"a": 1 ,  }',
    "[[1,],2]",
    '{"a":[1,2,]}',
    '{"a":{"b":1,},"c":2}',
    '["\u00e9t\u00e9",]',
    "[1, }",
    '{"a":1, ]',
    "[1,",
    '{"a":1,',
    "[,]",
    "[1,,]",
]


@pytest.mark.parametrize("doc", TRAILING_COMMAS)
@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_a_trailing_comma_is_reported_as_the_running_pythons_json_reports_it(impl, doc, as_bytes):
    """3.13 names a trailing comma, at the comma; earlier versions say what they expected
    after it. Either way, what json.loads of this Python says, at its position."""
    ok, expected = json_outcome(doc)
    assert not ok
    data = doc.encode() if as_bytes else doc
    with pytest.raises(JSONDecodeError) as info:
        impl.loads(data)
    assert info.value.msg == expected.msg
    assert info.value.pos == position_in_input(data, expected.pos)


@pytest.mark.parametrize(
    "text",
    [
        '"\u00e9t\u00e9 \u65e5\u672c \U0001f600"',
        '{"\u00e9": ["\U0010ffff", "\u2028\u2029"]}',
        '"\ud800"',
        '["\udfff", "\ud83d\ude00", "\\ud83d\\ude00"]',
        '{"\ud800": "\udc00"}',
        '"\\ud800"',
        '"\\ud800\\ud800\\udc00"',
        '"\\udc00\\ud800"',
    ],
)
def test_str_inputs_with_non_ascii_and_lone_surrogates(impl, text):
    """str input may hold any character, lone surrogates included, as json accepts."""
    assert_same(impl.loads(text), json.loads(text))


@pytest.mark.parametrize("bad", [1, None, [b"1"], 1.5, {"a": 1}, object()])
def test_other_input_types_raise_type_error(impl, bad):
    """Anything but str or a bytes-like object is a TypeError, as in json."""
    with pytest.raises(TypeError):
        impl.loads(bad)


# ---------------------------------------------------------------------------
# 9. Error attributes
# ---------------------------------------------------------------------------

ERROR_DOCS = [
    '{\n  "a": 1,\n  "b": tru\n}',
    "[1,\n\n2 3]",
    '["\u00e9\u00e9",\n "\U0001f600" x]',
    "",
]


def _where(doc, pos: int) -> tuple[int, int]:
    newline = "\n" if isinstance(doc, str) else b"\n"
    prefix = doc[:pos] if isinstance(doc, str) else bytes(doc)[:pos]
    return prefix.count(newline) + 1, pos - prefix.rfind(newline)


@pytest.mark.parametrize("text", ERROR_DOCS)
def test_error_attributes(impl, text):
    """msg, pos, lineno, colno and the message follow json, indexing the input as given."""
    expected = json_outcome(text)[1]
    raw = text.encode()
    for doc in [text, *byte_forms(raw)]:
        with pytest.raises(JSONDecodeError) as info:
            impl.loads(doc)
        exc = info.value
        assert isinstance(exc, json.JSONDecodeError)
        assert isinstance(exc, ValueError)
        assert exc.msg == expected.msg
        assert exc.pos == position_in_input(doc, expected.pos)
        assert (exc.lineno, exc.colno) == _where(doc, exc.pos)
        if isinstance(doc, str):
            assert (exc.lineno, exc.colno) == (expected.lineno, expected.colno)
        assert str(exc) == f"{exc.msg}: line {exc.lineno} column {exc.colno} (char {exc.pos})"


@pytest.mark.parametrize("form", ["str", "bytes", "bytearray", "memoryview"])
def test_errors_pickle_round_trip(impl, form):
    """A decode error survives pickling (e.g. across multiprocessing), whatever the input."""
    text = '{"a": [1, 2,]}'
    doc = {
        "str": text,
        "bytes": text.encode(),
        "bytearray": bytearray(text.encode()),
        "memoryview": memoryview(text.encode()),
    }[form]
    with pytest.raises(JSONDecodeError) as info:
        impl.loads(doc)
    exc = info.value
    copy = pickle.loads(pickle.dumps(exc))
    assert type(copy) is type(exc)
    assert (copy.msg, copy.pos, copy.lineno, copy.colno) == (
        exc.msg,
        exc.pos,
        exc.lineno,
        exc.colno,
    )
    assert str(copy) == str(exc)


@settings(
    max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    mantissa=st.integers(min_value=0, max_value=10**20),
    point=st.integers(min_value=0, max_value=21),
    exponent=st.one_of(st.none(), st.integers(min_value=-40, max_value=40)),
    negative=st.booleans(),
)
def test_decimal_numbers_convert_exactly_like_float(impl, mantissa, point, exponent, negative):
    """Numbers near the exact fast path's edges (19 digits, exponents of +-19) round as float()."""
    digits = str(mantissa).rjust(point + 1, "0")
    text = ("-" if negative else "") + digits[: len(digits) - point]
    if point:
        text += "." + digits[len(digits) - point :]
    if exponent is not None:
        text += f"e{exponent}"
    expected = json.loads(text)
    got = impl.loads(text.encode())
    assert type(got) is type(expected)
    assert got == expected
    if isinstance(got, float):
        assert math.copysign(1.0, got) == math.copysign(1.0, expected)


@pytest.mark.parametrize("kind", ["str", "bytes"])
def test_str_and_bytes_subclasses_are_read_as_json_loads_reads_them(impl, kind):
    """json.loads takes any str or bytes, subclasses included."""

    class Text(str):
        pass

    class Data(bytes):
        pass

    for doc in ('{"a": [1, "\u00e9", 2.5]}', '"\ud800"', "[1, 2]"):
        data = Text(doc) if kind == "str" else Data(doc.encode("utf-8", "surrogatepass"))
        assert_same(impl.loads(data), json.loads(doc))
    with pytest.raises(JSONDecodeError) as info:
        impl.loads(Text("[1, x]") if kind == "str" else Data(b"[1, x]"))
    assert (info.value.msg, info.value.pos) == ("Expecting value", 4)


@needs_big_memory
def test_the_digits_of_a_number_longer_than_2_gib_are_all_counted(impl):
    """Digits are counted in Py_ssize_t: counted in a C int, 2**31 digits and more wrapped
    around and the number was taken for a short one (19 ones here, silently)."""
    data = b"1" * BEYOND_2_GIB
    with pytest.raises(ValueError, match="Exceeds the limit"):
        impl.loads(data)
