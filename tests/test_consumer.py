"""JournalConsumer and ResourceJournalConsumer against docs/CONTRACT.md section 3, on both cores.

The stand-ins of ``fluxjournal.testing`` play the broker; where flux-core's bindings import,
its own consumer runs on the same stand-in and must deliver the same events.
"""

from __future__ import annotations

import json

import pytest
from conftest import capture_lines

from fluxjournal import JobID, MalformedResponse
from fluxjournal.testing import ReplayFlux, SimulatedFlux

FULL = capture_lines("job-journal-full-live.jsonl")
BACKLOG, SENTINEL, LIVE = FULL[:64], FULL[64], FULL[65:]
NONFULL = capture_lines("job-journal-nonfull.jsonl")
RESOURCE = capture_lines("resource-journal.jsonl")


@pytest.fixture
def classes(impl):
    """The stock consumer classes of the implementation under test: each core has its own."""
    return impl.JournalConsumer, impl.ResourceJournalConsumer


def everything(consumer, timeout=5.0) -> list:
    """Cancel, then poll until the end of the stream: every event the stand-in had."""
    consumer.stop()
    out = []
    while (event := consumer.poll(timeout)) is not None:
        out.append(event)
    return out


def key(event):
    if event.is_empty():
        return ("SENTINEL",)
    return (int(event.jobid), dict(event), event.jobspec, event.R)


def expected(payloads, full=True, since=0.0, include_sentinel=False) -> list:
    """The contract, as a plain model: sorted history, the sentinel, live in arrival order."""
    history, live, in_history = [], [], full
    for payload in payloads:
        doc = json.loads(payload)
        if in_history and not doc["events"]:
            in_history = False
            history.sort(key=lambda item: item[1]["timestamp"])
            if include_sentinel:
                history.append(("SENTINEL",))
            continue
        for entry in doc["events"]:
            if entry["timestamp"] <= since:
                continue
            name = entry["name"]
            item = (
                doc["id"],
                {**entry, "context": entry.get("context", {})},
                doc.get("jobspec") if name == "submit" else None,
                doc.get("R") if name == "alloc" else None,
            )
            (history if in_history else live).append(item)
    return history + live


# -- construction ------------------------------------------------------------------------


def test_constructor_keeps_flux_cores_attributes(classes):
    job, _ = classes
    handle = ReplayFlux(FULL)
    consumer = job(handle, full=False, since=3.5, include_sentinel=True)
    assert consumer.handle is handle
    assert consumer.topic == "job-manager.events-journal"
    assert consumer.cancel_topic == "job-manager.events-journal-cancel"
    assert (consumer.full, consumer.since, consumer.include_sentinel) == (False, 3.5, True)
    assert consumer.rpc is None and consumer.cb is None
    assert list(consumer.backlog) == [] and consumer.processing_inactive is False
    assert consumer.request_payload == {"full": False}


def test_base_cancel_topic_defaults_and_can_be_given(impl):
    class Minimal(impl.JournalConsumerBase):
        def process_response(self, resp):
            return {}

        def create_event(self, entry, **kwargs):
            return self.core.JournalEventBase(entry)

    assert Minimal(None, "a.b").cancel_topic == "a.b-cancel"
    assert Minimal(None, "a.b", cancel_topic="c").cancel_topic == "c"
    assert Minimal(None, "a.b").processing_inactive is True
    with pytest.raises(TypeError):
        impl.JournalConsumerBase(None, "a.b")  # abstract, as in flux-core


def test_resource_consumer_always_asks_for_the_history(classes):
    _, resource = classes
    consumer = resource(ReplayFlux(RESOURCE))
    assert consumer.full is True and consumer.topic == "resource.journal"
    assert consumer.cancel_topic == "resource.journal-cancel"


# -- start, stop, poll -------------------------------------------------------------------


def test_start_returns_the_consumer(classes):
    job, _ = classes
    consumer = job(ReplayFlux(FULL))
    assert consumer.start() is consumer
    assert consumer.rpc is not None


def test_poll_before_start_is_a_runtime_error(classes):
    job, _ = classes
    with pytest.raises(RuntimeError):
        job(ReplayFlux(FULL)).poll()


def test_stop_before_start_is_an_attribute_error(classes):
    job, _ = classes
    with pytest.raises(AttributeError):
        job(ReplayFlux(FULL)).stop()


@pytest.mark.parametrize("include_sentinel", [False, True])
def test_full_history_sorted_then_sentinel_then_live(classes, include_sentinel):
    job, _ = classes
    consumer = job(ReplayFlux(FULL), include_sentinel=include_sentinel).start()
    events = everything(consumer)
    assert [key(e) for e in events] == expected(FULL, include_sentinel=include_sentinel)
    sentinels = [e for e in events if e.is_empty()]
    assert len(sentinels) == include_sentinel
    if include_sentinel:
        assert sentinels[0] is job.SENTINEL_EVENT
        assert events.index(sentinels[0]) == sum(len(json.loads(p)["events"]) for p in BACKLOG)


def test_ties_keep_arrival_order(classes):
    job, _ = classes
    backlog = [
        b'{"id":1,"events":[{"timestamp":2.0,"name":"a"},{"timestamp":5.0,"name":"b"}]}',
        b'{"id":2,"events":[{"timestamp":1.0,"name":"c"},{"timestamp":2.0,"name":"d"}]}',
        b'{"id":3,"events":[{"timestamp":2.0,"name":"e"},{"timestamp":0.5,"name":"f"}]}',
        b'{"id":-1,"events":[]}',
    ]
    names = [e.name for e in everything(job(ReplayFlux(backlog)).start())]
    assert names == ["f", "c", "a", "d", "e", "b"]


def test_nothing_is_returned_before_the_sentinel(classes):
    job, _ = classes
    consumer = job(ReplayFlux(BACKLOG)).start()  # the sentinel never comes
    with pytest.raises(TimeoutError):
        consumer.poll(0.05)


@pytest.mark.parametrize("since_index", [0, 100, 400, 650])
def test_since_drops_old_events_in_history_and_live(classes, since_index):
    job, _ = classes
    stamps = sorted(e["timestamp"] for p in FULL for e in json.loads(p)["events"])
    since = stamps[since_index]
    events = everything(job(ReplayFlux(FULL), since=since).start())
    assert [key(e) for e in events] == expected(FULL, since=since)
    assert all(e.timestamp > since for e in events)


def test_without_full_arrival_order_and_no_sentinel(classes):
    job, _ = classes
    payloads = BACKLOG[:5] + [SENTINEL] + LIVE
    consumer = job(ReplayFlux(payloads), full=False, include_sentinel=True).start()
    events = everything(consumer)
    assert [key(e) for e in events] == expected(payloads, full=False)
    assert not any(e.is_empty() for e in events)
    assert [key(e) for e in everything(job(ReplayFlux(NONFULL), full=False).start())] == []


def test_timeout_zero_raises_at_once_and_later_polls_carry_on(classes):
    job, _ = classes
    consumer = job(ReplayFlux(FULL), include_sentinel=True).start()
    got = []
    timeouts = 0
    while len(got) < len(expected(FULL, include_sentinel=True)):
        try:
            got.append(consumer.poll(0))
        except TimeoutError:
            timeouts += 1
            if timeouts > 5:
                break
    with pytest.raises(TimeoutError):  # everything recorded has been delivered
        consumer.poll(0)
    assert [key(e) for e in got] == expected(FULL, include_sentinel=True)
    consumer.stop()
    assert consumer.poll(1.0) is None


def test_end_of_stream_returns_none_on_every_later_poll(classes):
    job, _ = classes
    consumer = job(ReplayFlux(FULL)).start()
    everything(consumer)
    assert consumer.poll(0) is None
    assert consumer.poll(-1) is None


def test_stop_right_after_start_still_delivers_the_whole_history(classes):
    job, _ = classes
    handle = SimulatedFlux(jobs=200, seed=3, live=50)
    consumer = job(handle, include_sentinel=True).start()
    events = everything(consumer)
    assert events[-1].is_empty()  # live events after the cancel were dropped
    assert len(events) > 1000


def test_init_called_again_starts_the_consumer_afresh(classes):
    """As flux-core's (whose state is all attributes ``__init__`` sets): a history half
    delivered, then ``__init__`` and ``start()`` again, gives what a new consumer gives."""
    job, _ = classes
    consumer = job(ReplayFlux(FULL, ends=True), include_sentinel=True).start()
    assert consumer.poll(5.0) is not None
    consumer.__init__(ReplayFlux(FULL, ends=True), include_sentinel=True)
    assert consumer.rpc is None
    consumer.start()
    events = []
    while (event := consumer.poll(5.0)) is not None:
        events.append(event)
    assert [key(e) for e in events] == expected(FULL, include_sentinel=True)


def test_start_twice_restarts_the_stream(classes):
    job, _ = classes
    payloads = BACKLOG[:3] + [SENTINEL]
    consumer = job(ReplayFlux(payloads)).start()
    first = [consumer.poll(5.0) for _ in range(len(expected(payloads)))]
    consumer.start()  # the history comes again, as live events in arrival order
    again = everything(consumer)
    assert [key(e) for e in first] == expected(payloads)
    assert [key(e) for e in again] == expected(payloads, full=False)


# -- callbacks ---------------------------------------------------------------------------


@pytest.mark.parametrize("before_start", [True, False])
def test_callback_gets_poll_order_and_reactor_run_returns(classes, before_start):
    job, _ = classes
    handle = ReplayFlux(FULL)
    consumer = job(handle, include_sentinel=True)
    got = []

    def on_event(event, a, b=None):
        got.append((event, a, b))
        if event.is_empty():
            consumer.stop()

    if before_start:
        assert consumer.set_callback(on_event, 1, b=2) is consumer
        consumer.start()
    else:
        consumer.start().set_callback(on_event, 1, b=2)
    assert handle.reactor_run() == 0
    assert [key(e) for e, _, _ in got] == expected(FULL, include_sentinel=True)
    assert all(a == 1 and b == 2 for _, a, b in got)
    assert None not in [e for e, _, _ in got]


def test_only_the_latest_callback_is_called(classes):
    job, _ = classes
    handle = ReplayFlux(FULL)
    consumer = job(handle).start()
    first, second = [], []
    consumer.set_callback(first.append)
    consumer.set_callback(second.append)
    consumer.stop()
    handle.reactor_run()
    assert first == []
    assert [key(e) for e in second] == expected(FULL)


def test_callback_exception_propagates_out_of_reactor_run(classes):
    job, _ = classes
    handle = ReplayFlux(FULL)

    def boom(event):
        raise LookupError(event.name)

    job(handle).set_callback(boom).start()
    with pytest.raises(LookupError):
        handle.reactor_run()


# -- bad responses -----------------------------------------------------------------------

BAD = b'{"id":7,"events":[{"timestamp":"late","name":"x"}]}'


def test_bad_history_response_raises_once_then_the_rest_comes(classes):
    job, _ = classes
    payloads = BACKLOG[:3] + [BAD] + BACKLOG[3:6] + [SENTINEL] + LIVE[:4]
    consumer = job(ReplayFlux(payloads), include_sentinel=True).start()
    with pytest.raises(MalformedResponse) as info:
        consumer.poll(5.0)
    assert info.value.response == BAD
    assert "timestamp is not a number" in str(info.value)
    good = [p for p in payloads if p != BAD]
    assert [key(e) for e in everything(consumer)] == expected(good, include_sentinel=True)


def test_bad_live_response_raises_once_then_the_rest_comes(classes):
    job, _ = classes
    payloads = [*BACKLOG[:2], SENTINEL, LIVE[0], b"{not json", LIVE[1]]
    consumer = job(ReplayFlux(payloads)).start()
    got = []
    with pytest.raises(MalformedResponse):
        while True:
            got.append(consumer.poll(5.0))
    got += everything(consumer)
    assert [key(e) for e in got] == expected([p for p in payloads if p != b"{not json"])


def test_bad_response_in_callback_mode_raises_from_reactor_run_and_resumes(classes):
    job, _ = classes
    payloads = [*BACKLOG[:2], SENTINEL, LIVE[0], BAD, LIVE[1]]
    handle = ReplayFlux(payloads)
    got = []
    consumer = job(handle).set_callback(got.append).start()
    consumer.stop()
    with pytest.raises(MalformedResponse):
        handle.reactor_run()
    handle.reactor_run()
    assert [key(e) for e in got] == expected([p for p in payloads if p != BAD])


# -- beyond flux-core --------------------------------------------------------------------


def test_iterator_batches_and_context_manager(classes):
    job, _ = classes
    with job(ReplayFlux(FULL), include_sentinel=True) as consumer:
        first = consumer.poll_batch(10)
        assert len(first) == 10
        consumer.stop()
        rest = list(consumer)
    assert [key(e) for e in first + rest] == expected(FULL, include_sentinel=True)
    assert consumer.poll_batch() == []


def test_filters_go_in_the_request_and_empty_responses_are_not_the_sentinel(classes):
    job, _ = classes
    payloads = [
        b'{"id":5,"events":[]}',
        b'{"id":6,"events":[{"timestamp":1.0,"name":"submit"}]}',
        b'{"id":-1,"events":[]}',
        b'{"id":6,"events":[{"timestamp":2.0,"name":"clean"}]}',
    ]
    consumer = job(ReplayFlux(payloads), include_sentinel=True, allow={"submit", "clean"})
    assert consumer.request_payload == {"full": True, "allow": {"submit": 1, "clean": 1}}
    names = [e.name if not e.is_empty() else "-" for e in everything(consumer.start())]
    assert names == ["submit", "-", "clean"]


def test_filters_on_the_simulator(classes):
    job, _ = classes
    handle = SimulatedFlux(jobs=300, seed=5, live=200)
    events = everything(job(handle, deny=["submit", "alloc"], include_sentinel=True).start())
    assert events and not any(e.name in ("submit", "alloc") for e in events if not e.is_empty())
    assert sum(e.is_empty() for e in events) == 1


# -- the resource journal ------------------------------------------------------------------


def test_resource_journal(classes):
    _, resource = classes
    consumer = resource(ReplayFlux(RESOURCE), include_sentinel=True).start()
    events = everything(consumer)
    assert events[-1] is consumer.SENTINEL_EVENT and events[-1].is_empty()
    docs = [json.loads(p) for p in RESOURCE]
    want = sorted(
        (({**e, "context": e.get("context", {})}, d.get("R")) for d in docs for e in d["events"]),
        key=lambda item: item[0]["timestamp"],
    )
    assert [(dict(e), e.R) for e in events[:-1]] == want


# -- hooks -------------------------------------------------------------------------------


class RecordingHooks:
    """Overrides every flux-core hook of a journal consumer, recording how it is called."""

    core: object

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = []

    @property
    def request_payload(self):
        self.calls.append(("request_payload",))
        return {"full": self.full}

    def is_empty_response(self, resp):
        self.calls.append(("is_empty_response", resp["id"]))
        return len(resp["events"]) == 0

    def process_response(self, resp):
        self.calls.append(("process_response", resp["id"]))
        return {"jobid": resp.get("id"), "jobspec": resp.get("jobspec"), "R": resp.get("R")}

    def create_event(self, entry, **kwargs):
        self.calls.append(("create_event", kwargs["jobid"], entry["name"]))
        return self.core.JournalEvent(kwargs["jobid"], entry, kwargs["jobspec"], kwargs["R"])


def test_overridden_hooks_are_called_as_flux_core_calls_them(impl):
    class Ours(RecordingHooks, impl.JournalConsumer):
        pass

    payloads = BACKLOG[:4] + [SENTINEL] + LIVE[:3]
    consumer = Ours(ReplayFlux(payloads), include_sentinel=True).start()
    events = everything(consumer)
    assert [key(e) for e in events] == expected(payloads, include_sentinel=True)
    calls = [("request_payload",)]
    for payload in payloads[:5]:
        doc = json.loads(payload)
        calls.append(("is_empty_response", doc["id"]))
        if doc["events"]:
            calls.append(("process_response", doc["id"]))
            calls += [("create_event", doc["id"], e["name"]) for e in doc["events"]]
    for payload in payloads[5:]:
        doc = json.loads(payload)
        calls.append(("process_response", doc["id"]))
        calls += [("create_event", doc["id"], e["name"]) for e in doc["events"]]
    assert consumer.calls == calls


# -- the same as flux-core's own consumer ---------------------------------------------------


def flux_core_journal():
    return pytest.importorskip("flux.job.journal")


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"include_sentinel": True},
        {"full": False, "include_sentinel": True},
        {"since": 1795837735.0},
    ],
    ids=["default", "sentinel", "nonfull", "since"],
)
@pytest.mark.parametrize("source", ["capture", "simulated"])
def test_same_events_as_flux_core(classes, options, source):
    journal = flux_core_journal()
    job, _ = classes

    def make():
        if source == "capture":
            return ReplayFlux(FULL)
        return SimulatedFlux(jobs=150, seed=11, live=120)

    ours = everything(job(make(), **options).start())
    theirs_consumer = journal.JournalConsumer(make(), **options).start()
    theirs = everything(theirs_consumer)
    assert [key(e) for e in ours] == [key(e) for e in theirs]


def test_same_callback_events_as_flux_core(classes):
    journal = flux_core_journal()
    job, _ = classes
    results = []
    for cls in (job, journal.JournalConsumer):
        handle = SimulatedFlux(jobs=120, seed=2, live=80)
        got = []
        consumer = cls(handle, include_sentinel=True).set_callback(got.append).start()
        consumer.stop()
        assert handle.reactor_run() == 0
        results.append([key(e) for e in got])
    assert results[0] == results[1]
    assert len(results[0]) > 500


def test_hook_calls_are_the_same_as_flux_cores(impl):
    journal = flux_core_journal()
    payloads = BACKLOG[:4] + [SENTINEL] + LIVE[:3]

    class Theirs(RecordingHooks, journal.JournalConsumer):
        core = impl

    class Ours(RecordingHooks, impl.JournalConsumer):
        pass

    theirs = Theirs(ReplayFlux(payloads), include_sentinel=True)
    ours = Ours(ReplayFlux(payloads), include_sentinel=True)
    assert [key(e) for e in everything(ours.start())] == [
        key(e) for e in everything(theirs.start())
    ]
    assert ours.calls == theirs.calls
    assert len(ours.calls) > 20


def test_jobids_are_shared_per_response(classes):
    job, _ = classes
    events = everything(job(ReplayFlux(BACKLOG[:1] + [SENTINEL])).start())
    assert len({id(e.jobid) for e in events}) == 1
    assert isinstance(events[0].jobid, JobID)


class StrOnlyFuture:
    """A future with flux-python's Python API but no ``get_bytes()``."""

    def __init__(self, future):
        self._future = future
        self.pimpl = future.pimpl

    def __getattr__(self, name):
        if name == "get_bytes":
            raise AttributeError(name)
        return getattr(self._future, name)


class StrOnlyHandle:
    """A handle whose futures only offer ``get_str()`` for the payload."""

    def __init__(self, handle):
        self._handle = handle

    def rpc(self, *args, **kwargs):
        return StrOnlyFuture(self._handle.rpc(*args, **kwargs))

    def __getattr__(self, name):
        return getattr(self._handle, name)


def test_a_future_with_only_get_str_works(classes):
    job, _ = classes
    consumer = job(StrOnlyHandle(ReplayFlux(FULL)), include_sentinel=True).start()
    assert not hasattr(consumer.rpc, "get_bytes")
    assert [key(e) for e in everything(consumer)] == expected(FULL, include_sentinel=True)


def test_install_replaces_flux_cores_names_and_uninstall_restores_them():
    journal = pytest.importorskip("flux.job.journal")
    import flux.job
    import flux.resource

    import fluxjournal

    originals = (flux.job.JournalConsumer, journal.JournalEvent, journal.SENTINEL_EVENT)
    fluxjournal.install()
    try:
        assert flux.job.JournalConsumer is fluxjournal.JournalConsumer
        assert journal.JournalConsumer is fluxjournal.JournalConsumer
        assert journal.JournalEvent is fluxjournal.JournalEvent
        assert journal.SENTINEL_EVENT is fluxjournal.SENTINEL_EVENT
        assert flux.resource.ResourceJournalConsumer is fluxjournal.ResourceJournalConsumer
        consumer = journal.JournalConsumer(ReplayFlux(FULL), include_sentinel=True).start()
        events = everything(consumer)
        assert [key(e) for e in events] == expected(FULL, include_sentinel=True)
    finally:
        fluxjournal.uninstall()
    assert (flux.job.JournalConsumer, journal.JournalEvent, journal.SENTINEL_EVENT) == originals


def test_install_without_flux_core_is_an_import_error(monkeypatch):
    import sys

    import fluxjournal

    monkeypatch.setitem(sys.modules, "flux", None)
    monkeypatch.setitem(sys.modules, "flux.job", None)
    with pytest.raises(ImportError):
        fluxjournal.install()


def test_breaking_out_of_the_iterator_loses_nothing(classes):
    job, _ = classes
    consumer = job(ReplayFlux(FULL), include_sentinel=True).start()
    first = []
    for event in consumer:
        first.append(event)
        if len(first) == 10:
            break
    rest = everything(consumer)
    assert [key(e) for e in first + rest] == expected(FULL, include_sentinel=True)


def test_iteration_goes_through_a_subclass_poll(classes):
    job, _ = classes
    seen = []

    class Counting(job):
        def poll(self, timeout=-1.0):
            event = super().poll(timeout)
            seen.append(event)
            return event

    consumer = Counting(ReplayFlux(FULL), include_sentinel=True).start()
    consumer.stop()  # the replay then ends after the recorded responses
    events = list(consumer)
    assert [key(e) for e in events] == expected(FULL, include_sentinel=True)
    assert seen == [*events, None]
