"""Hostile journal responses: one table, both cores, every way of consuming.

Each case puts one response the journal service would never send among good ones, in the
history or in the live stream. Either the consumer refuses it with a MalformedResponse
that names the problem and holds the response (docs/CONTRACT.md, section 4) and moves
past it, or, where flux-core's consumer takes the input, it takes it exactly as flux-core
does (section 3). Either way every good response before and after it is delivered, in
order, and nothing else: no crash, no hang, no event that is not in the input.

``fluxjournal ingest`` is driven through some of the refused ones at the end: it stores
the good responses and reports the bad one without stopping.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Callable

import pytest
from conftest import capture_lines
from stores import Database
from test_ingest import OVER, ingest_payloads, response, stored_events

from fluxjournal import MalformedResponse
from fluxjournal.testing import ReplayFlux

FULL = capture_lines("job-journal-full-live.jsonl")
SENTINEL = b'{"id":-1,"events":[]}'
BACKLOG = FULL[:3]
LIVE = FULL[FULL.index(SENTINEL) + 1 :][:3]

MODES = ["poll", "iterator", "batch", "callback"]
#: Longest a poll waits: a consumer that should go on but waits instead fails the test.
TIMEOUT = 10.0
BATCH = 5
#: Far past MAX_DEPTH (512), and past json's own recursion limit.
BOMB_DEPTH = 100_000
#: The digits int() takes by default (sys.get_int_max_str_digits()).
INT_DIGITS = 4300
HUNDRED_MB = 100 * 1024 * 1024
STAMP = 1795837731.5


def entry(name: object = "submit", timestamp: object = STAMP, **extra: object) -> str:
    """One eventlog entry's JSON text (characters beyond ASCII as they are)."""
    return json.dumps({"timestamp": timestamp, "name": name, **extra}, ensure_ascii=False)


def job(entries: str, jobid: object = 7, **texts: str) -> bytes:
    """A response of job ``jobid``: the text of its entries, then its other keys' texts.
    Lone surrogates in the text stand for the bytes ``surrogateescape`` maps them to, so
    that invalid UTF-8 can be written."""
    more = "".join(f',"{key}":{text}' for key, text in texts.items())
    return f'{{"id":{jobid},"events":[{entries}]{more}}}'.encode("utf-8", "surrogateescape")


@dataclass
class Case:
    """A hostile response: refused for ``refused`` (what its error names), or accepted
    as flux-core accepts it when that is None. ``payload`` may be a function that makes
    it, for one too big to keep while other tests run."""

    name: str
    payload: bytes | Callable[[], bytes]
    refused: str | None = None
    places: tuple[str, ...] = ("history", "live")

    def data(self) -> bytes:
        return self.payload() if callable(self.payload) else self.payload


REFUSED = [
    # truncated, or not JSON
    Case("truncated entry", job(entry())[:-3], "invalid JSON: Expecting ',' delimiter"),
    Case("truncated string", b'{"id":7,"events":[{"name":"sub', "invalid JSON: Unterminated"),
    Case("truncated after a key", b'{"id":7,"events"', "invalid JSON: Expecting ':'"),
    Case("not JSON", b"this is not JSON", "invalid JSON: Expecting value"),
    Case("whitespace only", b" \t ", "invalid JSON: Expecting value"),
    Case("two documents", job(entry()) + b"\x00" + job(entry()), "invalid JSON: Extra data"),
    Case("a trailing comma", b'{"id":7,"events":[],}', "invalid JSON"),
    # wrong types where the journal has numbers, strings, arrays and objects
    Case("timestamp a string", job(entry(timestamp="1.5")), "event 0: timestamp is not a number"),
    Case("timestamp an array", job(entry(timestamp=[1.5])), "event 0: timestamp is not a number"),
    Case("timestamp an object", job(entry(timestamp={})), "event 0: timestamp is not a number"),
    Case("timestamp true", job(entry(timestamp=True)), "event 0: timestamp is not a number"),
    Case("timestamp null", job(entry(timestamp=None)), "event 0: timestamp is not a number"),
    Case("name a number", job(entry(name=5)), "event 0: name is not a string"),
    Case("name null", job(entry(name=None)), "event 0: name is not a string"),
    Case("name an object", job(entry(name={"n": "x"})), "event 0: name is not a string"),
    Case("name an array", job(entry() + "," + entry(name=[])), "event 1: name is not a string"),
    Case("events an object", b'{"id":7,"events":{}}', "events is not an array"),
    Case("events a string", b'{"id":7,"events":"submit"}', "events is not an array"),
    Case("events null", b'{"id":7,"events":null}', "events is not an array"),
    Case("an entry an array", job("[]"), "event 0 is not an object"),
    Case("an entry a string", job(entry() + ',"alloc"'), "event 1 is not an object"),
    Case("an entry null", job("null"), "event 0 is not an object"),
    Case("id a string", job(entry(), jobid='"7"'), "id is not an integer"),
    Case("id a float", job(entry(), jobid="7.0"), "id is not an integer"),
    Case("id an array", job(entry(), jobid="[7]"), "id is not an integer"),
    Case("id null", job(entry(), jobid="null"), "id is not an integer"),
    # the last of repeated keys is the one that counts, as in json.loads
    Case("events twice, the last not an array", job(entry(), events="5"), "events is not an array"),
    Case("id twice, the last a string", job(entry(), id='"7"'), "id is not an integer"),
    Case(
        "timestamp twice, the last a string",
        job('{"timestamp":1.5,"name":"a","timestamp":"late"}'),
        "event 0: timestamp is not a number",
    ),
    Case("an array", b"[]", "not a JSON object"),
    Case("a number", b"42", "not a JSON object"),
    Case("a string", b'"events"', "not a JSON object"),
    # missing keys
    Case("no events", b'{"id":7}', 'no "events" array'),
    Case("a sentinel id and no events", b'{"id":-1}', 'no "events" array'),
    Case("no name", job('{"timestamp":1.5}'), "event 0 has no name"),
    Case("an empty entry", job(entry() + ",{}"), "event 1 has no name"),
    Case("no id", b'{"events":[' + entry().encode() + b"]}", 'no "id" for its events'),
    # invalid UTF-8
    Case("a bad byte in a name", job(entry(name="sub\udcffmit")), "invalid JSON: Invalid UTF-8"),
    Case("a bad byte in a key", job(entry(), **{"x\udcc3": "1"}), "invalid JSON: Invalid UTF-8"),
    Case("an overlong /", job(entry(context={"k": "\udcc0\udcaf"})), "invalid JSON: Invalid UTF-8"),
    Case(
        "a cut sequence", job(entry(context={"k": "\udce2\udc82"})), "invalid JSON: Invalid UTF-8"
    ),
    Case(
        "a code point past U+10FFFF",
        job(entry(name="\udcf4\udc90\udc80\udc80")),
        "invalid JSON: Invalid UTF-8",
    ),
    # numbers beyond what is decoded
    Case(
        "a context integer longer than int() takes",
        job('{"timestamp":1.5,"name":"a","context":{"n":1' + "0" * INT_DIGITS + "}}"),
        "invalid JSON: Exceeds the limit",
    ),
    Case(
        "a jobspec integer longer than int() takes",
        job(entry(), jobspec=f"[-{'9' * (INT_DIGITS + 1)}]"),
        "invalid JSON: Exceeds the limit",
    ),
    Case(
        "a timestamp past the largest float",
        job(entry(timestamp=10**400)),
        "event 0: timestamp is not a number",
    ),
    # nesting bombs
    Case(
        "a context nested past every limit",
        job(entry(), jobspec="[" * BOMB_DEPTH + "]" * BOMB_DEPTH),
        "invalid JSON: Nesting deeper than 512 levels",
    ),
    Case(
        "an R nested 600 deep",
        job(entry("alloc"), R='{"a":' * 600 + "1" + "}" * 600),
        "invalid JSON: Nesting deeper than 512 levels",
    ),
    Case(
        "an entry nested and never closed",
        job('{"name":"x","timestamp":1.5,"context":' + "[" * BOMB_DEPTH),
        "invalid JSON: Nesting deeper than 512 levels",
    ),
    Case(
        "a 100 MB string that never ends",
        lambda: b'{"id":7,"events":[{"name":"' + b"x" * HUNDRED_MB,
        "invalid JSON: Unterminated string",
        places=("live",),
    ),
]

ACCEPTED = [
    # values flux-core passes on as they are
    Case("a context that is a string", job(entry(context="text"))),
    Case("a context that is an array", job(entry(context=[1, {"a": None}]))),
    Case("a context that is null", job(entry(context=None))),
    Case("a jobspec that is a number", job(entry(), jobspec="5")),
    Case("a jobspec that is a string", job(entry(), jobspec='"jobspec"')),
    Case("a jobspec that is an array", job(entry(), jobspec="[1,[2]]")),
    Case("a jobspec that is null", job(entry(), jobspec="null")),
    Case("an R that is false", job(entry("alloc"), R="false")),
    Case("an R that is a string", job(entry("alloc"), R='"R"')),
    # job ids the journal never sends; flux-core's JobID keeps any int
    Case("a negative job id", job(entry(), jobid=-5)),
    Case("a job id of 2**64", job(entry(), jobid=2**64)),
    Case("a job id far beyond 64 bits", job(entry(), jobid=10**40)),
    Case("the sentinel's id, with events", job(entry(), jobid=-1, jobspec="{}")),
    # the history sorts one response's events, live keeps their order
    Case(
        "events out of order in one response",
        job(
            ",".join(
                [
                    entry("submit", STAMP + 8),
                    entry("depend", STAMP - 0.25),
                    entry("alloc", STAMP + 4),
                    entry("clean", STAMP - 0.25),
                ]
            ),
            R='{"x":1}',
        ),
    ),
    # huge and tiny numbers, and json's literals
    Case("a timestamp that is infinite", job('{"timestamp":1e400,"name":"alloc"}')),
    Case("a timestamp below the least float", job('{"timestamp":1e-400,"name":"submit"}')),
    Case("a NaN timestamp", job('{"timestamp":NaN,"name":"submit"}')),
    Case("a timestamp far in the past", job(entry(timestamp=-1e308))),
    Case("an integer timestamp", job(entry(timestamp=1795837731))),
    Case(
        "numbers of every size in a context",
        job(
            entry(
                context={
                    "longest": 10 ** (INT_DIGITS - 1),
                    "negative": -(10**500),
                    "least": 5e-324,
                    "zero": -0.0,
                    "digits": 1234567890.1234567,
                    "inf": float("inf"),
                }
            )
        ),
    ),
    Case("a jobspec nested 512 deep", job(entry(), jobspec="[" * 511 + "]" * 511)),
    Case(
        "a 100 MB string in a context",
        lambda: job(entry(context={"blob": "x" * HUNDRED_MB})),
        places=("live",),
    ),
]


def placed(bad: bytes, place: str) -> list[bytes]:
    """The payloads served: good ones around ``bad``, in the history or live."""
    if place == "history":
        return [BACKLOG[0], bad, *BACKLOG[1:], SENTINEL, *LIVE]
    return [*BACKLOG, SENTINEL, LIVE[0], bad, *LIVE[1:]]


#: Streams whose sentinel is where the service never puts it. flux-core takes the first
#: response without events in the history for the sentinel, and does nothing with one
#: later on.
MISPLACED_SENTINELS = {
    "the sentinel twice": [*BACKLOG[:2], SENTINEL, SENTINEL, *LIVE],
    "the sentinel first": [SENTINEL, *LIVE],
    "a sentinel inside the live stream": [BACKLOG[0], SENTINEL, LIVE[0], SENTINEL, *LIVE[1:]],
    "another response without events before it": [
        BACKLOG[0],
        b'{"id":9,"events":[]}',
        BACKLOG[1],
        SENTINEL,
        *LIVE,
    ],
    "no sentinel before the stream ends": list(BACKLOG),
}


# -- consuming, and what flux-core's consumer delivers -------------------------------------

SENTINEL_KEY = ("SENTINEL",)


def key(event, sentinel) -> tuple:
    """What tells delivered events apart; repr() tells 1 from 1.0 and shows NaN."""
    if event is sentinel:
        return SENTINEL_KEY
    return (int(event.jobid), repr(dict(event)), repr(event.jobspec), repr(event.R))


def expected(payloads: list[bytes]) -> list[tuple]:
    """flux-core's delivery (with ``include_sentinel`` and ``since=0.0``) of responses it
    decodes: the history until the first response without events, sorted by time
    (stably), then the sentinel; then live events in arrival order. An event is kept when
    its timestamp is greater than ``since`` (a NaN never is). A stream that ends inside
    the history delivers it sorted, without the sentinel (section 3's states)."""
    history: list[tuple] = []
    live: list[tuple] = []
    in_history = True
    for payload in payloads:
        doc = json.loads(payload)
        if in_history and not doc["events"]:
            in_history = False
            history.sort(key=lambda item: item[0])
            history.append((None, SENTINEL_KEY))
            continue
        jobid = doc["id"]
        for item in doc["events"]:
            if not item["timestamp"] > 0.0:
                continue
            name = item["name"]
            event = {**item, "context": item.get("context", {})}
            jobspec = doc.get("jobspec") if name == "submit" and jobid != -1 else None
            R = doc.get("R") if name == "alloc" and jobid != -1 else None
            built = (jobid, repr(event), repr(jobspec), repr(R))
            (history if in_history else live).append((item["timestamp"], built))
    if in_history:
        history.sort(key=lambda item: item[0])
    return [built for _, built in history + live]


def drain(consumer, mode: str, events: list) -> None:
    """Take events until the stream ends, by ``mode``; raises what the consumer raises."""
    if mode == "poll":
        while (event := consumer.poll(TIMEOUT)) is not None:
            events.append(event)
    elif mode == "iterator":
        for event in consumer:
            events.append(event)
    else:
        while batch := consumer.poll_batch(BATCH, TIMEOUT):
            events.extend(batch)


def consume(impl, payloads: list[bytes], mode: str) -> tuple[list, list, object]:
    """Every event a consumer of ``impl`` delivers from ``payloads`` (served, then the
    end), by ``mode``; the MalformedResponse errors raised on the way; the consumer's
    sentinel. Each error is caught and the consumer asked again, as often as there are
    payloads: a consumer that cannot get past one fails the test."""
    handle = ReplayFlux(payloads, ends=True)
    consumer = impl.JournalConsumer(handle, include_sentinel=True)
    events: list = []
    errors: list[MalformedResponse] = []
    if mode == "callback":
        consumer.set_callback(events.append)
    consumer.start()
    for _ in range(len(payloads) + 1):
        try:
            if mode == "callback":
                assert handle.reactor_run() == 0
            else:
                drain(consumer, mode, events)
        except MalformedResponse as exc:
            errors.append(exc)
        else:
            return events, errors, consumer.SENTINEL_EVENT
    pytest.fail(f"{mode}: the consumer did not get past the bad responses")


def check(impl, payloads: list[bytes], mode: str, bad: bytes | None = None, refused=None):
    """The consumer delivers what flux-core would of every response it takes, and raises
    one clear error, naming ``refused``, for ``bad`` when it is refused."""
    events, errors, sentinel = consume(impl, payloads, mode)
    taken = [p for p in payloads if refused is None or p is not bad]
    assert [key(e, sentinel) for e in events] == expected(taken)
    if refused is None:
        assert errors == []
        return
    (error,) = errors
    assert isinstance(error, ValueError)
    assert refused in error.what
    assert error.response == bad
    assert str(error).startswith(f"malformed journal response: {error.what} in response ")


def ids(cases: list[Case]) -> list:
    return [
        pytest.param(case, place, id=f"{case.name} ({place})")
        for case in cases
        for place in case.places
    ]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("case", "place"), ids(REFUSED) + ids(ACCEPTED))
def test_a_hostile_response_is_refused_or_taken_as_flux_core_takes_it(impl, case, place, mode):
    bad = case.data()
    check(impl, placed(bad, place), mode, bad, case.refused)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("layout", sorted(MISPLACED_SENTINELS))
def test_a_misplaced_sentinel_is_taken_as_flux_core_takes_it(impl, layout, mode):
    check(impl, MISPLACED_SENTINELS[layout], mode)


@pytest.mark.parametrize(
    "payloads",
    [
        pytest.param(placed(case.payload, place), id=f"{case.name} ({place})")
        for case in ACCEPTED
        if not callable(case.payload)
        for place in case.places
    ]
    + [
        pytest.param(p, id=name)
        for name, p in MISPLACED_SENTINELS.items()
        if name != "no sentinel before the stream ends"
    ],
)
def test_flux_cores_own_consumer_delivers_the_accepted_ones_alike(payloads):
    """The model above, checked against flux-core's consumer where its bindings import
    (its poll() raises at the end of a stream inside the history, so that one is left
    out)."""
    journal = pytest.importorskip("flux.job.journal")
    consumer = journal.JournalConsumer(ReplayFlux(payloads, ends=True), include_sentinel=True)
    events = []
    consumer.start()
    while (event := consumer.poll(TIMEOUT)) is not None:
        events.append(event)
    assert [key(e, consumer.SENTINEL_EVENT) for e in events] == expected(payloads)


# -- fluxjournal ingest ----------------------------------------------------------------------

#: Refused responses, each a different kind of damage, for ingest.
INGESTED = [
    "truncated entry",
    "not JSON",
    "timestamp a string",
    "name a number",
    "events null",
    "an entry an array",
    "no events",
    "a bad byte in a name",
    "a context integer longer than int() takes",
    "a context nested past every limit",
    "an entry nested and never closed",
]


@pytest.fixture
def sqlite_database(tmp_path):
    db = Database.new("sqlite", tmp_path, None)
    try:
        yield db
    finally:
        db.drop()


@pytest.mark.parametrize(
    "case", [pytest.param(c, id=c.name) for c in REFUSED if c.name in INGESTED]
)
def test_ingest_stores_the_good_responses_and_reports_each_bad_one(
    impl, sqlite_database, case, caplog
):
    """The bad response comes in the history and again live: each time it is reported,
    by its number and its problem, and skipped; the job's entries are all stored."""
    bad = case.data()
    payloads = [response(5, *OVER[:4]), bad, SENTINEL, bad, response(5, *OVER[4:])]
    with caplog.at_level(logging.WARNING, logger="fluxjournal.ingest"):
        result = ingest_payloads(impl, sqlite_database, payloads, once=False)
    assert (result.bad_responses, result.ended) == (2, True)
    stored = stored_events(sqlite_database)
    assert list(stored) == [5]
    assert [name for _, _, name, _ in stored[5]] == [e["name"] for e in OVER]
    reports = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    for number in (2, 4):
        assert any(
            r.startswith(f"response {number}: malformed journal response: ") and case.refused in r
            for r in reports
        ), reports
