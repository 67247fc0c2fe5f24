"""The consumer on a real flux-core broker, compared with flux-core's own consumer.

Skipped unless ``flux`` is on PATH and flux-core's Python bindings import.
"""

from __future__ import annotations

import threading

import pytest
from conftest import needs_flux

from fluxjournal import JournalConsumer, ResourceJournalConsumer

pytestmark = needs_flux


def until_sentinel(consumer, timeout=30.0) -> list:
    events = []
    while True:
        event = consumer.poll(timeout)
        if event is None or event.is_empty():
            return events
        events.append(event)


def comparable(events) -> list:
    return [(int(e.jobid), dict(e), e.jobspec, e.R) for e in events]


def test_history_matches_flux_core_event_for_event(broker):
    from flux.job.journal import JournalConsumer as FluxConsumer

    handle = broker.handle()
    ours = until_sentinel(JournalConsumer(handle, include_sentinel=True).start())
    theirs = until_sentinel(FluxConsumer(handle, include_sentinel=True).start())
    assert len(ours) > 100
    assert comparable(ours) == comparable(theirs)
    assert [str(e) for e in ours] == [str(e) for e in theirs]


def test_history_is_sorted_and_sentinel_is_the_shared_object(broker):
    consumer = JournalConsumer(broker.handle(), include_sentinel=True).start()
    events = []
    while True:
        event = consumer.poll(30.0)
        events.append(event)
        if event.is_empty():
            break
    assert events[-1] is JournalConsumer.SENTINEL_EVENT
    stamps = [e.timestamp for e in events[:-1]]
    assert stamps == sorted(stamps)


def test_callback_path_gives_the_same_events_and_reactor_run_returns(broker):
    handle = broker.handle()
    polled = until_sentinel(JournalConsumer(handle, include_sentinel=True).start())
    got = []
    consumer = JournalConsumer(handle, include_sentinel=True)

    def on_event(event, tag, key=None):
        assert tag == "t" and key == "k"
        if event.is_empty():
            consumer.stop()
        else:
            got.append(event)

    consumer.set_callback(on_event, "t", key="k").start()
    assert handle.reactor_run() >= 0
    assert comparable(got) == comparable(polled)
    assert consumer.poll(5.0) is None


def test_stop_right_after_start_still_delivers_the_whole_history(broker):
    handle = broker.handle()
    expected = until_sentinel(JournalConsumer(handle, include_sentinel=True).start())
    consumer = JournalConsumer(handle).start()
    consumer.stop()
    got = []
    while (event := consumer.poll(30.0)) is not None:
        got.append(event)
    assert comparable(got) == comparable(expected)
    assert consumer.poll(0.1) is None


def test_live_events_match_flux_core(broker):
    from flux.job.journal import JournalConsumer as FluxConsumer

    handle = broker.handle()
    ours = JournalConsumer(handle, full=False).start()
    theirs = FluxConsumer(handle, full=False).start()
    jobid = broker.run("submit", "--wait", "true").strip()

    def until_clean(consumer):
        events = []
        while True:
            event = consumer.poll(30.0)
            events.append(event)
            if event.name == "clean" and event.jobid.f58 == jobid:
                return events

    a, b = until_clean(ours), until_clean(theirs)
    assert comparable(a) == comparable(b)
    assert [e.name for e in a][0] == "submit"
    assert a[0].jobspec is not None


def test_timeout_then_carry_on(broker):
    consumer = JournalConsumer(broker.handle(), full=False).start()
    with pytest.raises(TimeoutError):
        consumer.poll(0)
    with pytest.raises(TimeoutError):
        consumer.poll(0.05)
    broker.run("submit", "true")
    assert consumer.poll(30.0).name == "submit"


def test_other_threads_run_while_poll_waits(broker):
    # the filter keeps the events of jobs other tests left running from ending the wait
    consumer = JournalConsumer(broker.handle(), full=False, allow=["no-such-event"]).start()
    counter = [0]
    done = threading.Event()

    def spin():
        while not done.is_set():
            counter[0] += 1

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        with pytest.raises(TimeoutError):
            consumer.poll(0.5)
        seen = counter[0]
    finally:
        done.set()
        thread.join()
    assert seen > 1000


def test_allow_filter_is_applied_by_the_service(broker):
    handle = broker.handle()
    everything = until_sentinel(JournalConsumer(handle, include_sentinel=True).start())
    allowed = until_sentinel(
        JournalConsumer(handle, include_sentinel=True, allow=["submit", "clean"]).start()
    )
    expected = [e for e in everything if e.name in ("submit", "clean")]
    assert comparable(allowed) == comparable(expected)


def test_resource_journal_matches_flux_core(broker):
    from flux.resource import ResourceJournalConsumer as FluxResource

    handle = broker.handle()
    ours = ResourceJournalConsumer(handle, include_sentinel=True).start()
    theirs = FluxResource(handle, include_sentinel=True).start()

    def until_empty(consumer):
        out = []
        while not (event := consumer.poll(30.0)).is_empty():
            out.append((dict(event), event.R))
        return out

    a, b = until_empty(ours), until_empty(theirs)
    assert a == b
    assert any(r is not None for _, r in a)


def test_install_makes_flux_cores_own_names_ours(broker):
    import flux.job
    import flux.job.journal

    import fluxjournal

    fluxjournal.install()
    try:
        assert flux.job.JournalConsumer is JournalConsumer
        consumer = flux.job.journal.JournalConsumer(broker.handle(), include_sentinel=True)
        assert consumer.start().poll(30.0).name == "submit"
    finally:
        fluxjournal.uninstall()
    assert flux.job.JournalConsumer is not JournalConsumer
