"""Tests for fluxjournal.jobid.JobID, the libflux-free twin of flux-core's flux.job.JobID.

Expected values come from the project contract (observed on flux-core 0.88.0), from flux-core's
own test suite (t/python/t0010-job.py) and from the flux-core 0.88.0 C sources (fluid.c, id.c,
mnemonic.c, basemoji.c), whose quirks JobID reproduces.
"""

from __future__ import annotations

import copy
import errno
import locale
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fluxjournal.jobid import ENCODINGS, JobID

U64 = 1 << 64
fluids = st.integers(min_value=0, max_value=U64 - 1)

CONTRACT_ID = 0x360000000  # 14495514624

# Every encoding of a few ids, as published in flux-core's own tests (plus the contract id).
# "f58" is given here with the ASCII prefix; the "ƒ" form is tested separately.
TABLE = [
    {
        "int": 0,
        "dec": "0",
        "hex": "0x0",
        "dothex": "0000.0000.0000.0000",
        "kvs": "job.0000.0000.0000.0000",
        "f58plain": "f1",
        "words": "academy-academy-academy--academy-academy-academy",
        "emoji": "😃",
    },
    {
        "int": 1,
        "dec": "1",
        "hex": "0x1",
        "dothex": "0000.0000.0000.0001",
        "kvs": "job.0000.0000.0000.0001",
        "f58plain": "f2",
        "words": "acrobat-academy-academy--academy-academy-academy",
        "emoji": "😄",
    },
    {
        "int": 65535,
        "dec": "65535",
        "hex": "0xffff",
        "dothex": "0000.0000.0000.ffff",
        "kvs": "job.0000.0000.0000.ffff",
        "f58plain": "fLUv",
        "words": "nevada-archive-academy--academy-academy-academy",
        "emoji": "💁📚",
    },
    {
        "int": 6787342413402046,
        "dec": "6787342413402046",
        "hex": "0x181d0d4d850fbe",
        "dothex": "0018.1d0d.4d85.0fbe",
        "kvs": "job.0018.1d0d.4d85.0fbe",
        "f58plain": "fuzzybunny",
        "words": "cake-plume-nepal--neuron-pencil-academy",
        "emoji": "👴😱🔚🎮🕙🚩",
    },
    {
        "int": 18446744073709551614,
        "dec": "18446744073709551614",
        "hex": "0xfffffffffffffffe",
        "dothex": "ffff.ffff.ffff.fffe",
        "kvs": "job.ffff.ffff.ffff.fffe",
        "f58plain": "fjpXCZedGfVP",
        "words": "mustang-analyze-verbal--natural-analyze-verbal",
        "emoji": "🚹💗💧👗😷📷📙",
    },
    {
        "int": CONTRACT_ID,
        "dec": "14495514624",
        "hex": "0x360000000",
        "dothex": "0000.0003.6000.0000",
        "kvs": "job.0000.0003.6000.0000",
        "f58plain": "fP5vJUw",
        "words": "spain-garage-puma--actor-academy-academy",
        "emoji": "💥🔐👘😃",
    },
]
TEXT_FORMS = ["dec", "hex", "dothex", "kvs", "f58plain", "words", "emoji"]


@pytest.fixture
def ascii_f58(monkeypatch):
    """Force libflux's ASCII "f" prefix for the f58 encoding."""
    monkeypatch.setenv("FLUX_F58_FORCE_ASCII", "1")


def _set_ctype(*names: str) -> str | None:
    for name in names:
        try:
            return locale.setlocale(locale.LC_CTYPE, name)
        except locale.Error:
            continue
    return None


@pytest.fixture
def utf8_ctype(monkeypatch):
    """Run with a UTF-8 LC_CTYPE and FLUX_F58_FORCE_ASCII unset, where f58 uses "ƒ"."""
    monkeypatch.delenv("FLUX_F58_FORCE_ASCII", raising=False)
    saved = locale.setlocale(locale.LC_CTYPE)
    if _set_ctype("C.UTF-8", "C.utf8", "en_US.UTF-8") is None:
        pytest.skip("no UTF-8 locale available")
    yield
    locale.setlocale(locale.LC_CTYPE, saved)


@pytest.fixture
def c_ctype(monkeypatch):
    """Run with the single-byte "C" LC_CTYPE, where libflux falls back to "f"."""
    monkeypatch.delenv("FLUX_F58_FORCE_ASCII", raising=False)
    saved = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    yield
    locale.setlocale(locale.LC_CTYPE, saved)


# --- contract and reference values ------------------------------------------------------------


def test_contract_values(ascii_f58):
    jobid = JobID(CONTRACT_ID)
    assert jobid == 14495514624
    assert jobid.dothex == "0000.0003.6000.0000"
    assert jobid.kvs == "job.0000.0003.6000.0000"
    assert jobid.words == "spain-garage-puma--actor-academy-academy"
    assert jobid.f58plain == "fP5vJUw"
    assert jobid.f58 == "fP5vJUw"


@pytest.mark.parametrize("row", TABLE, ids=lambda row: row["dec"])
def test_every_encoding_matches_reference(row):
    jobid = JobID(row["int"])
    for form in TEXT_FORMS:
        assert getattr(jobid, form) == row[form], form
        assert jobid.encode(form) == row[form], form


@pytest.mark.parametrize("row", TABLE, ids=lambda row: row["dec"])
@pytest.mark.parametrize("form", TEXT_FORMS)
def test_each_text_form_parses_back(row, form):
    jobid = JobID(row[form])
    assert type(jobid) is JobID
    assert jobid == row["int"]
    assert jobid.orig == row[form]


@pytest.mark.parametrize("row", TABLE, ids=lambda row: row["dec"])
def test_f58_unicode_prefix_parses(row):
    text = "ƒ" + row["f58plain"][1:]
    assert JobID(text) == row["int"]


def test_f58_prefix_in_utf8_locale(utf8_ctype):
    jobid = JobID(CONTRACT_ID)
    assert jobid.f58 == "ƒP5vJUw"
    assert str(jobid) == "ƒP5vJUw"
    assert jobid.encode("f58") == "ƒP5vJUw"
    assert jobid.f58plain == "fP5vJUw"


def test_f58_force_ascii_is_read_at_call_time(utf8_ctype, monkeypatch):
    jobid = JobID(CONTRACT_ID)
    monkeypatch.setenv("FLUX_F58_FORCE_ASCII", "")  # any value, even empty, forces ASCII
    assert jobid.f58 == "fP5vJUw"
    monkeypatch.delenv("FLUX_F58_FORCE_ASCII")
    assert jobid.f58 == "ƒP5vJUw"


def test_f58_prefix_in_c_locale(c_ctype):
    assert JobID(CONTRACT_ID).f58 == "fP5vJUw"
    assert str(JobID(0)) == "f1"


def test_repr_and_str(ascii_f58):
    jobid = JobID("job.0000.0003.6000.0000")
    assert repr(jobid) == "JobID(14495514624)"
    assert str(jobid) == "fP5vJUw"
    assert f"{jobid}" == "fP5vJUw"
    assert f"{jobid:d}" == "14495514624"


def test_is_an_int():
    jobid = JobID("ƒP5vJUw")
    assert isinstance(jobid, int)
    assert jobid == CONTRACT_ID
    assert hash(jobid) == hash(CONTRACT_ID)
    assert {CONTRACT_ID: "x"}[jobid] == "x"
    assert jobid + 1 == CONTRACT_ID + 1
    assert type(jobid + 1) is int


# --- the exact parsing rules of flux_job_id_parse() --------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (" 123 ", 123),  # leading whitespace is skipped, and integers allow trailing whitespace
        ("\t\n123\n", 123),
        ("000123", 123),
        ("+42", 42),  # strtoull() accepts a plus sign
        ("0x1F", 31),
        ("0xFFFFFFFFFFFFFFFF", U64 - 1),
        ("18446744073709551615", U64 - 1),
        ("  job.  0x10  ", 16),  # whitespace is skipped again after "job."
        ("job.   ", 0),  # strtoull() of "" converts nothing, which libflux accepts as 0
        ("0.0.0.0", 0),  # dothex fields may be short
        (" 0000.0003.6000.0000", CONTRACT_ID),
        ("job. 0000. 0003.6000.0000", CONTRACT_ID),  # sscanf("%4x") skips blanks per field
        ("0x1.0x2.3.4", 0x0001000200030004),  # ... and accepts a "0x" inside a field
        ("-1.0.0.0", 0xFFFF000000000000),  # ... and a sign, wrapped into 32 then 64 bits
        ("fff.-fff.0.0", 0xFFFFF00100000000),
        ("SPAIN-GARAGE-PUMA--ACTOR-ACADEMY-ACADEMY", CONTRACT_ID),  # words: any case
        ("spain garage puma-actor academy academy \n", CONTRACT_ID),  # any non-letter separates
        ("spain-garage-puma--actor-academy-academy-nonsense-words", CONTRACT_ID),
        ("fjpXCZedGfVQ", U64 - 1),
        ("fjpXCZedGfVR", 0),  # 2**64: F58 sums wrap modulo 2**64
        ("fzzzzzzzzzzzz", (58**12 - 1) % U64),  # 12 digits are allowed
        ("🎌🎌🎌🎌🎌🎌🎌", (576**7 - 1) % U64),  # 7 emoji are allowed, also modulo 2**64
        ("zoom-zoom-verbal--academy-academy-academy", 4294954597),  # largest-ish 32-bit group
        ("12\x00garbage", 12),  # C only sees the text up to the first NUL
        (b"123", 123),  # bytes go straight to C
        (b"\xc6\x92P5vJUw", CONTRACT_ID),
    ],
)
def test_quirky_but_valid_text(text, expected):
    jobid = JobID(text)
    assert jobid == expected
    assert jobid.orig == str(text)


BAD_TEXT = [
    "",
    " ",
    "\x00",
    "job.",
    "invalid",
    "-1",  # "-" means mnemonic words, and these are not words
    "1.5",  # "." means dothex
    "1e3",
    "1_000",
    "٣",  # non-ASCII digit
    "0x",
    "0X1f",  # only a lower-case "0x" selects hex
    "0x-1",
    "+",
    "0x 1",
    "18446744073709551616",  # ERANGE
    "0x10000000000000000",
    "9" * 30,
    "1" * 5000,
    "ƒ2 ",  # only integers tolerate trailing whitespace
    "0000.0003.6000.0000 ",
    "0.0.0",
    "0.0.0.0.0",
    "0.0.0.g",
    "12345.0.0.0",  # at most 4 hex digits per field
    "job.0.0",
    "job.0.0.0.0.0",
    "notjob.0.0.0.0",
    "JOB.0.0.0.0",
    "job.job.0.0.0.0",
    "f",
    "ƒ",
    "f0",
    "fO",
    "fI",
    "fl",
    "f1111111111111",  # 13 F58 digits
    "P5vJUw",  # F58 needs its prefix
    "invalid-words-test",
    "foo-bar-baz--qux-quux-corge",
    "spain-garage-puma--actor-academy",  # 5 words
    "spain-garage-puma--actor-academy-academy-academy",  # 7 words
    "yes-academy-academy--academy-academy-academy",  # 24-bit remainder word
    "academy-academy-amen--academy-academy-academy",  # does not fit in 32 bits
    "verbal-verbal-verbal--academy-academy-academy",  # neither does this
    "🦄",  # not in the basemoji set
    "😃 ",
    "😃😃😃😃😃😃😃😃",  # 8 emoji
    "\udcff",  # lone surrogate escapes to byte 0xff
]


@pytest.mark.parametrize("text", BAD_TEXT)
def test_bad_text_raises_valueerror(text):
    with pytest.raises(ValueError) as info:
        JobID(text)
    assert str(info.value) == f"{text} is not a valid Flux jobid"


def test_bad_bytes_and_none():
    with pytest.raises(ValueError, match=r"^b'nope' is not a valid Flux jobid$"):
        JobID(b"nope")
    with pytest.raises(ValueError, match=r"^None is not a valid Flux jobid$"):
        JobID(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [1.0, 1.5, bytearray(b"1"), [1], object()])
def test_unusable_types_raise_valueerror(value):
    with pytest.raises(ValueError, match="Invalid arguments passed to wrapped C function"):
        JobID(value)  # type: ignore[arg-type]


def test_unencodable_text_raises_unicode_error():
    with pytest.raises(UnicodeEncodeError):
        JobID("\ud800")


# --- ints outside the FLUID range, and the journal's -1 sentinel -------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "can't convert negative number to unsigned"),
        (-(2**70), "can't convert negative number to unsigned"),
        (U64, "int too big to convert"),
        (2**100, "int too big to convert"),
    ],
)
def test_out_of_range_ints_construct_but_do_not_encode(value, message):
    jobid = JobID(value)
    assert jobid == value
    assert jobid.orig == str(value)
    for form in ENCODINGS:
        with pytest.raises(OverflowError, match=message):
            getattr(jobid, form)
        with pytest.raises(OverflowError, match=message):
            jobid.encode(form)
    with pytest.raises(OverflowError, match=message):
        str(jobid)
    with pytest.raises(OverflowError, match=message):
        repr(jobid)


def test_sentinel_minus_one():
    sentinel = JobID(-1)
    assert sentinel == -1
    assert int(sentinel) == -1
    assert sentinel.orig == "-1"
    # flux-core re-parses the original text of a JobID argument, and "-1" is not valid text
    with pytest.raises(ValueError, match=r"^-1 is not a valid Flux jobid$"):
        JobID(sentinel)


def test_int_subclasses_keep_their_text():
    jobid = JobID(True)
    assert jobid == 1
    assert type(jobid) is JobID
    assert jobid.orig == "True"
    with pytest.raises(ValueError, match="True is not a valid Flux jobid"):
        JobID(jobid)


# --- orig, attributes, memory ------------------------------------------------------------------


def test_orig():
    assert JobID(CONTRACT_ID).orig == "14495514624"
    assert JobID(" ƒP5vJUw").orig == " ƒP5vJUw"
    assert JobID(JobID("0x360000000")).orig == "0x360000000"
    assert JobID(JobID(5)).orig == "5"
    assert JobID("0x10").orig_str == "0x10"


def test_int_construction_stores_nothing_per_instance():
    jobid = JobID(CONTRACT_ID)
    assert vars(jobid) == {}
    jobid.note = "attributes can be set, as on flux-core's JobID"
    assert jobid.note.startswith("attributes")


def test_jobid_of_jobid_is_a_new_equal_jobid():
    first = JobID("job.0000.0003.6000.0000")
    second = JobID(first)
    assert second == first
    assert second is not first
    assert second.orig == first.orig


# --- encode() ----------------------------------------------------------------------------------


def test_encoding_names():
    assert set(ENCODINGS) == {"dec", "hex", "dothex", "kvs", "words", "f58", "f58plain", "emoji"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (None, "14495514624"),
        ("HEX", "0x360000000"),
        ("DotHex", "0000.0003.6000.0000"),
        (b"kvs", "job.0000.0003.6000.0000"),
        ("F58PLAIN", "fP5vJUw"),
        ("words\x00ignored", "spain-garage-puma--actor-academy-academy"),
    ],
)
def test_encode_names_are_case_insensitive_c_strings(name, expected):
    assert JobID(CONTRACT_ID).encode(name) == expected


def test_encode_default_is_decimal():
    assert JobID("fP5vJUw").encode() == "14495514624"


@pytest.mark.parametrize("name", ["bogus", "", "f58 ", "decimal"])
def test_encode_unknown_name_raises_eproto(name):
    with pytest.raises(OSError) as info:
        JobID(1).encode(name)
    assert info.value.errno == errno.EPROTO


def test_encode_bad_name_type():
    with pytest.raises(ValueError, match="Invalid arguments passed to wrapped C function"):
        JobID(1).encode(5)  # type: ignore[arg-type]
    with pytest.raises(OverflowError):  # the id is converted before the name is checked
        JobID(-1).encode(5)  # type: ignore[arg-type]


# --- pickle and copy -----------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("value", [CONTRACT_ID, "ƒP5vJUw", " 0x10 ", -1, U64, True])
def test_pickle_round_trip(protocol, value):
    jobid = JobID(value)
    clone = pickle.loads(pickle.dumps(jobid, protocol))
    assert type(clone) is JobID
    assert clone == jobid
    assert clone.orig == jobid.orig


@pytest.mark.parametrize("copier", [copy.copy, copy.deepcopy])
@pytest.mark.parametrize("value", [CONTRACT_ID, "job.0000.0003.6000.0000", -1])
def test_copy_round_trip(copier, value):
    jobid = JobID(value)
    clone = copier(jobid)
    assert type(clone) is JobID
    assert clone == jobid
    assert clone.orig == jobid.orig


# --- properties over the whole 64-bit range ---------------------------------------------------


@given(fluids)
def test_round_trip_every_form(value):
    jobid = JobID(value)
    for form in ENCODINGS:
        text = jobid.encode(form)
        assert getattr(jobid, form) == text
        assert JobID(text) == value, (form, text)


@given(fluids)
def test_round_trip_both_f58_prefixes(value):
    digits = JobID(value).f58plain[1:]
    assert JobID("f" + digits) == value
    assert JobID("ƒ" + digits) == value
    assert JobID(" \tƒ" + digits) == value


@given(fluids)
def test_encodings_have_expected_shape(value):
    jobid = JobID(value)
    assert jobid.dec == str(value)
    assert int(jobid.hex, 16) == value
    assert int(jobid.dothex.replace(".", ""), 16) == value
    assert jobid.kvs == "job." + jobid.dothex
    words = jobid.words.split("-")
    assert len(words) == 7 and words[3] == ""
    assert 1 <= len(jobid.emoji) <= 7
    assert jobid.f58plain.startswith("f") and len(jobid.f58plain) <= 12


@given(st.integers(min_value=U64, max_value=U64 * 1000))
def test_decimal_text_beyond_64_bits_is_rejected(value):
    with pytest.raises(ValueError):
        JobID(str(value))
    with pytest.raises(ValueError):
        JobID(hex(value))


# --- comparison with the real flux-core bindings (skipped when they are not installed) -------


@pytest.fixture(scope="module")
def flux_jobid():
    return pytest.importorskip("flux.job").JobID


ALL_PROPERTIES = ["dec", "hex", "dothex", "kvs", "words", "f58", "f58plain", "emoji", "orig"]


def _outcome(cls, value):
    try:
        jobid = cls(value)
    except Exception as exc:  # flux-core raises a ValueError subclass for bad argument types
        kind = "ValueError" if isinstance(exc, ValueError) else type(exc).__name__
        return kind, str(exc)
    return int(jobid), jobid.orig


@given(value=fluids)
def test_matches_flux_core_on_random_ids(flux_jobid, value):
    ours, theirs = JobID(value), flux_jobid(value)
    for prop in ALL_PROPERTIES:
        assert getattr(ours, prop) == getattr(theirs, prop), prop
    assert str(ours) == str(theirs)
    assert repr(ours) == repr(theirs)
    for prop in ALL_PROPERTIES:
        text = getattr(theirs, prop)
        assert _outcome(JobID, text) == _outcome(flux_jobid, text), text


@pytest.mark.parametrize("text", BAD_TEXT + ["job.   ", " 123 ", "-1.0.0.0", "fjpXCZedGfVR"])
def test_matches_flux_core_on_odd_text(flux_jobid, text):
    assert _outcome(JobID, text) == _outcome(flux_jobid, text)


@pytest.mark.parametrize("value", [-1, U64])
def test_matches_flux_core_out_of_range(flux_jobid, value):
    for prop in ALL_PROPERTIES:
        try:
            expected = getattr(flux_jobid(value), prop)
        except OverflowError as exc:
            with pytest.raises(OverflowError, match=str(exc)):
                getattr(JobID(value), prop)
        else:
            assert getattr(JobID(value), prop) == expected
