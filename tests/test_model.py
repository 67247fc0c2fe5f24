"""Randomized differential tests of the job-journal consumer (docs/CONTRACT.md sections 1-4).

Hypothesis draws journals (a backlog of per-job responses, the sentinel, live responses),
consumer options and a way of reading the events. A plain model of the contract says what
must come out; the consumer, on both cores, must deliver exactly that. The two cores are
also compared with each other and, where its bindings import, with flux-core's own
``flux.job.journal.JournalConsumer`` on the same recording.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fluxjournal import JobID
from fluxjournal.testing import ReplayFlux

SETTINGS = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

SENTINEL_PAYLOAD = b'{"id":-1,"events":[]}'
SENTINEL = ("SENTINEL",)
NOT_THE_SENTINEL = "an empty event that is not the consumer's SENTINEL_EVENT"
ABSENT: Any = object()

# RFC 21 event names (submit and alloc weighted up: they carry the jobspec and R), and a
# few odd strings: a name is any string.
NAMES = (
    "submit",
    "submit",
    "submit",
    "validate",
    "invalidate",
    "depend",
    "dependency-add",
    "dependency-remove",
    "priority",
    "urgency",
    "alloc",
    "alloc",
    "alloc",
    "start",
    "finish",
    "release",
    "free",
    "clean",
    "exception",
    "memo",
    "annotations",
    "jobspec-update",
    "resource-update",
    "prolog-start",
    "prolog-finish",
    "epilog-start",
    "epilog-finish",
    "flux-restart",
    "set-flags",
    "debug.alloc-request",
    "",
    "ƒ-événement",
    "with space",
)

# Timestamps: mostly a handful of small values so that ties (across jobs and within a job)
# are frequent, some as JSON integers; then realistic epoch times and arbitrary floats.
timestamps = st.one_of(
    st.integers(0, 5).map(float),
    st.integers(0, 5).map(float),
    st.integers(0, 5),
    st.sampled_from([0.5, 2.5, -0.0, 1795837730.47983, 1795837730.4798303, 1e-7]),
    st.floats(min_value=-10.0, max_value=2e9, allow_nan=False, allow_infinity=False),
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
keys = st.sampled_from(["priority", "userid", "ü", "", "日本"]) | st.text(max_size=4)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=4,
)
json_objects = st.dictionaries(keys, json_values, max_size=3)
contexts = st.one_of(
    st.just(ABSENT),
    st.just({}),
    st.fixed_dictionaries({"priority": st.integers(0, 2**32)}),
    st.dictionaries(keys, json_scalars, max_size=2),
    json_objects,
)
attachments = st.one_of(st.just(ABSENT), st.just({}), json_objects)  # a jobspec or an R


@st.composite
def entries(draw) -> dict:
    """One RFC 18 eventlog entry, its keys in a random order."""
    entry = {"timestamp": draw(timestamps), "name": draw(st.sampled_from(NAMES))}
    context = draw(contexts)
    if context is not ABSENT:
        entry["context"] = context
    return {key: entry[key] for key in draw(st.permutations(list(entry)))}


@st.composite
def responses(draw, jobid: int, events: list) -> dict:
    doc = {"id": jobid, "events": events}
    for key in ("jobspec", "R"):
        value = draw(attachments)
        if value is not ABSENT:
            doc[key] = value
    return {key: doc[key] for key in draw(st.permutations(list(doc)))}


@dataclass
class Journal:
    payloads: list  # the recorded responses, bytes, in arrival order


@st.composite
def journals(draw) -> Journal:
    """A backlog (one response per job), the sentinel, then live one-entry responses."""
    ids = draw(st.lists(st.integers(1, 2**64 - 1), unique=True, max_size=15))
    # Rarely a backlog response with no entries: a stock consumer takes it for the sentinel.
    min_entries = 0 if draw(st.integers(0, 9)) == 0 else 1
    docs = []
    for jobid in ids:
        events = draw(st.lists(entries(), min_size=min_entries, max_size=8))
        if draw(st.booleans()):
            events.sort(key=lambda entry: entry["timestamp"])  # else as drawn: unsorted
        docs.append(draw(responses(jobid, events)))
    live_ids = st.sampled_from(ids) if ids else st.integers(1, 2**64 - 1)
    live = [
        draw(responses(draw(live_ids), [draw(entries())])) for _ in range(draw(st.integers(0, 20)))
    ]
    ensure_ascii = draw(st.booleans())
    separators = (",", ":") if draw(st.booleans()) else None

    def encode(doc: dict) -> bytes:
        return json.dumps(doc, ensure_ascii=ensure_ascii, separators=separators).encode()

    return Journal([encode(d) for d in docs] + [SENTINEL_PAYLOAD] + [encode(d) for d in live])


@st.composite
def options(draw, journal: Journal) -> dict:
    stamps = [e["timestamp"] for p in journal.payloads for e in json.loads(p)["events"]]
    since_choices = [st.just(0.0), st.floats(-1e6, -1e-9)]
    if stamps:
        since_choices.append(st.sampled_from(stamps))
    return {
        "full": draw(st.booleans()),
        "since": draw(st.one_of(*since_choices)),
        "include_sentinel": draw(st.booleans()),
    }


# -- the model -------------------------------------------------------------------------------


def model(payloads: list, full: bool, since: float, include_sentinel: bool) -> list:
    """What the contract says a consumer delivers, as (jobid, event dict, jobspec, R) items.

    With ``full``: everything before the first response without entries (the sentinel for a
    stock consumer) is the history, stably sorted by timestamp, then SENTINEL when asked
    for, then the rest in arrival order. Without ``full``: every entry in arrival order.
    Entries with ``timestamp <= since`` are dropped everywhere.
    """
    history: list = []
    live: list = []
    in_history = full
    for payload in payloads:
        doc = json.loads(payload)
        if in_history and len(doc["events"]) == 0:
            in_history = False
            history = sorted(history, key=lambda item: item[1]["timestamp"])
            if include_sentinel:
                history.append(SENTINEL)
            continue
        for entry in doc["events"]:
            if entry["timestamp"] <= since:
                continue
            event = dict(entry)
            event.setdefault("context", {})
            item = (
                doc["id"],
                event,
                doc.get("jobspec") if entry["name"] == "submit" else None,
                doc.get("R") if entry["name"] == "alloc" else None,
            )
            (history if in_history else live).append(item)
    return history + live


def canon(value: Any) -> Any:
    """A type-exact form (3 is not 3.0, True is not 1, -0.0 is not 0.0) for comparing."""
    return None if value is None else json.dumps(value, sort_keys=True)


def strict(items: list) -> list:
    return [
        item if item == SENTINEL else (item[0], canon(item[1]), canon(item[2]), canon(item[3]))
        for item in items
    ]


def observed(events: list, sentinel: Any) -> list:
    """The delivered events as model items; the sentinel only when it is that very object."""
    out: list = []
    for event in events:
        if event is sentinel:
            out.append(SENTINEL)
        elif event is None or event.is_empty():
            out.append((NOT_THE_SENTINEL, event))
        else:
            out.append((int(event.jobid), dict(event), event.jobspec, event.R))
    return out


def check_delivery(events: list, want: list, impl: Any, consumer: Any) -> None:
    assert consumer.SENTINEL_EVENT is impl.SENTINEL_EVENT
    got = observed(events, consumer.SENTINEL_EVENT)
    assert got == want
    assert strict(got) == strict(want)
    for event in events:
        assert isinstance(event, impl.JournalEvent)
        assert isinstance(event.jobid, JobID)
        if event is consumer.SENTINEL_EVENT:
            assert event.is_empty() and event.jobid == -1
            assert event.jobspec is None and event.R is None
            continue
        assert not event.is_empty()
        assert (event.name, event.context) == (event["name"], event["context"])
        assert event.timestamp == event["timestamp"]


def check_ended(consumer: Any) -> None:
    """After the end of the stream fluxjournal answers None (or nothing) every time."""
    assert consumer.poll(0) is None
    assert consumer.poll() is None
    assert consumer.poll_batch(3) == []
    assert consumer.poll_batch(2, timeout=0) == []
    assert list(consumer) == []
    assert consumer.poll(-1) is None


def job_class(impl: Any) -> type:
    """The JournalConsumer of one core, as the ``classes`` fixture of test_consumer has it."""
    return impl.JournalConsumer


# -- ways of reading the events --------------------------------------------------------------

MODES = ("poll", "poll0", "batch", "iter", "callback", "mixed")


@st.composite
def plans(draw) -> dict:
    """How to read: the mode and its knobs (batch size, when to stop, callback order)."""
    return {
        "mode": draw(st.sampled_from(MODES)),
        "k": draw(st.integers(1, 12)),
        "stop_at": draw(st.integers(0, 60)),
        "cb_before_start": draw(st.booleans()),
        "cb_replaced": draw(st.booleans()),
        "ops": draw(
            st.lists(
                st.tuples(st.sampled_from(["poll", "poll0", "batch", "iter"]), st.integers(1, 9)),
                min_size=1,
                max_size=6,
            )
        ),
    }


def drain_poll(consumer: Any) -> list:
    """stop() first, then poll() with no timeout until None."""
    consumer.stop()
    out = []
    while (event := consumer.poll()) is not None:
        out.append(event)
        assert len(out) < 10_000
    return out


def drain_poll0(consumer: Any, want: int, stop_at: int) -> list:
    """poll(0) with stop() at event ``stop_at``; TimeoutError only when all was delivered."""
    out: list = []
    stopped = False
    for _ in range(10_000):
        if not stopped and len(out) >= stop_at:
            consumer.stop()
            stopped = True
        try:
            event = consumer.poll(0)
        except TimeoutError:
            # Every recorded response is ready at once, and after stop() so is the end:
            # nothing is ready only when everything has been delivered and no stop() sent.
            assert not stopped
            assert len(out) == want
            consumer.stop()
            stopped = True
            continue
        if event is None:
            assert stopped
            return out
        out.append(event)
    raise AssertionError("poll(0) never reached the end of the stream")


def drain_batch(consumer: Any, k: int, want: int, stop_at: int) -> list:
    """poll_batch(k, 0) until TimeoutError or event ``stop_at``, then stop() and poll_batch(k)."""
    out: list = []
    stopped = False
    for _ in range(10_000):
        if not stopped and len(out) >= stop_at:
            consumer.stop()
            stopped = True
        try:
            batch = consumer.poll_batch(k, timeout=-1.0 if stopped else 0)
        except TimeoutError:
            assert not stopped
            assert len(out) == want
            consumer.stop()
            stopped = True
            continue
        assert len(batch) <= k
        if not batch:
            assert stopped
            return out
        out.extend(batch)
    raise AssertionError("poll_batch() never reached the end of the stream")


def drain_mixed(consumer: Any, ops: list, want: int, stop_at: int) -> list:
    """poll, poll(0), poll_batch and iteration in turns; blocking ones only after stop()."""
    out: list = []
    stopped = False
    for step in range(10_000):
        if not stopped and len(out) >= stop_at:
            consumer.stop()
            stopped = True
        op, k = ops[step % len(ops)]
        timeout = -1.0 if stopped and op != "poll0" else 0
        try:
            if op == "iter" and stopped:
                rest = list(consumer)
                out.extend(rest)
                return out
            if op == "batch":
                batch = consumer.poll_batch(k, timeout=timeout)
                assert len(batch) <= k
                if not batch:
                    assert stopped
                    return out
                out.extend(batch)
            else:
                event = consumer.poll(timeout)
                if event is None:
                    assert stopped
                    return out
                out.append(event)
        except TimeoutError:
            assert not stopped
            assert len(out) == want
            consumer.stop()
            stopped = True
    raise AssertionError("the mixed reader never reached the end of the stream")


def drain_callback(consumer: Any, handle: Any, plan: dict, want: int) -> list:
    """set_callback before or after start(); stop() before reactor_run() or from the callback."""
    got: list = []
    replaced: list = []
    stop_in_cb = plan["stop_at"] if plan["stop_at"] < want else None

    def on_event(event, tag, key=None):
        assert (tag, key) == ("tag", 7)
        got.append(event)
        if stop_in_cb is not None and len(got) == stop_in_cb + 1:
            consumer.stop()

    def register():
        if plan["cb_replaced"]:
            assert consumer.set_callback(replaced.append) is consumer
        assert consumer.set_callback(on_event, "tag", key=7) is consumer

    if plan["cb_before_start"]:
        register()
        consumer.start()
    else:
        consumer.start()
        register()
    if stop_in_cb is None:
        consumer.stop()
    assert handle.reactor_run() == 0
    assert replaced == []
    assert None not in got
    return got


def read(impl_or_cls: Any, journal: Journal, opts: dict, plan: dict, want: int):
    """Run one consumer of class ``impl_or_cls`` over ``journal``; (events, consumer)."""
    cls = impl_or_cls if isinstance(impl_or_cls, type) else job_class(impl_or_cls)
    handle = ReplayFlux(journal.payloads)
    consumer = cls(handle, **opts)
    mode = plan["mode"]
    if mode == "callback":
        return drain_callback(consumer, handle, plan, want), consumer
    assert consumer.start() is consumer
    if mode == "poll":
        events = drain_poll(consumer)
    elif mode == "poll0":
        events = drain_poll0(consumer, want, plan["stop_at"])
    elif mode == "batch":
        events = drain_batch(consumer, plan["k"], want, plan["stop_at"])
    elif mode == "iter":
        consumer.stop()
        events = list(consumer)
    else:
        events = drain_mixed(consumer, plan["ops"], want, plan["stop_at"])
    return events, consumer


# -- the tests -------------------------------------------------------------------------------


@SETTINGS
@given(data=st.data(), journal=journals(), plan=plans())
def test_consumer_delivers_what_the_model_says(impl, data, journal, plan):
    opts = data.draw(options(journal), label="options")
    want = model(journal.payloads, **opts)
    events, consumer = read(impl, journal, opts, plan, len(want))
    check_delivery(events, want, impl, consumer)
    check_ended(consumer)


def tagged(journal: Journal) -> Journal:
    """The same journal with each backlog entry numbered in arrival order (context "#")."""
    out, seq, in_history = [], 0, True
    for payload in journal.payloads:
        doc = json.loads(payload)
        if in_history and not doc["events"]:
            in_history = False
        elif in_history:
            for entry in doc["events"]:
                entry["context"] = {**entry.get("context", {}), "#": seq}
                seq += 1
            payload = json.dumps(doc).encode()
        out.append(payload)
    return Journal(out)


@SETTINGS
@given(journal=journals(), include_sentinel=st.booleans(), plan=plans())
def test_history_is_a_stable_sort_then_the_sentinel_then_live(
    impl, journal, include_sentinel, plan
):
    """The shape of full delivery, stated without the model: (timestamp, arrival) ascending."""
    journal = tagged(journal)
    opts = {"include_sentinel": include_sentinel, "since": float("-inf")}
    docs = [json.loads(p) for p in journal.payloads]
    end = next(i for i, doc in enumerate(docs) if not doc["events"])
    n_history = sum(len(doc["events"]) for doc in docs[:end])
    live = [(doc["id"], entry["name"]) for doc in docs[end + 1 :] for entry in doc["events"]]
    want = n_history + include_sentinel + len(live)
    events, consumer = read(impl, journal, opts, plan, want)
    assert len(events) == want
    history = [(e.timestamp, e.context["#"]) for e in events[:n_history]]
    assert history == sorted(history)
    assert sorted(seq for _, seq in history) == list(range(n_history))
    if include_sentinel:
        assert events[n_history] is consumer.SENTINEL_EVENT
    assert sum(e.is_empty() for e in events) == include_sentinel
    tail = events[n_history + include_sentinel :]
    assert [(int(e.jobid), e.name) for e in tail] == live


@pytest.fixture
def cython_and_python():
    try:
        core = importlib.import_module("fluxjournal._core")
    except ImportError:
        pytest.skip("the compiled core is not importable")
    return core, importlib.import_module("fluxjournal._pycore")


@SETTINGS
@given(data=st.data(), journal=journals(), plan=plans())
def test_cython_and_python_cores_deliver_the_same(cython_and_python, data, journal, plan):
    opts = data.draw(options(journal), label="options")
    want = model(journal.payloads, **opts)
    results = []
    for core in cython_and_python:
        events, consumer = read(core, journal, opts, plan, len(want))
        check_ended(consumer)
        results.append(strict(observed(events, consumer.SENTINEL_EVENT)))
    assert results[0] == results[1]
    assert results[0] == strict(want)


@pytest.fixture
def flux_core_journal():
    return pytest.importorskip("flux.job.journal")


def flux_core_events(journal_module: Any, journal: Journal, opts: dict, callback: bool) -> list:
    """flux-core's own consumer over the same recording: poll after stop(), or the callback."""
    handle = ReplayFlux(journal.payloads)
    consumer = journal_module.JournalConsumer(handle, **opts)
    if callback:
        got: list = []
        consumer.set_callback(got.append).start()
        consumer.stop()
        assert handle.reactor_run() == 0
        return got
    consumer.start()
    consumer.stop()
    got = []
    while (event := consumer.poll(-1)) is not None:  # flux-core: None once, then it blocks
        got.append(event)
    return got


def as_items(events: list) -> list:
    """Library-neutral items: the sentinel recognised by is_empty(), type-exact dicts."""
    return [
        SENTINEL if e.is_empty() else (int(e.jobid), canon(dict(e)), canon(e.jobspec), canon(e.R))
        for e in events
    ]


@SETTINGS
@given(data=st.data(), journal=journals(), plan=plans(), theirs_by_callback=st.booleans())
def test_same_events_as_flux_core(impl, flux_core_journal, data, journal, plan, theirs_by_callback):
    opts = data.draw(options(journal), label="options")
    want = model(journal.payloads, **opts)
    ours, consumer = read(impl, journal, opts, plan, len(want))
    theirs = flux_core_events(flux_core_journal, journal, opts, theirs_by_callback)
    assert as_items(ours) == as_items(theirs)
    sentinels = [e for e in theirs if e.is_empty()]
    assert all(e is flux_core_journal.SENTINEL_EVENT for e in sentinels)
    assert [e for e in ours if e.is_empty()] == [consumer.SENTINEL_EVENT] * len(sentinels)
