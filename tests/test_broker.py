"""The consumer on a real flux-core broker, compared with flux-core's own consumer.

Skipped unless ``flux`` is on PATH and flux-core's Python bindings import.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest
from conftest import needs_flux

from fluxjournal import JournalConsumer, _pycore

pytestmark = needs_flux


@pytest.fixture
def job(impl):
    """The job journal consumer of the core under test."""
    return impl.JournalConsumer


def until_sentinel(consumer, timeout=30.0) -> list:
    events = []
    while True:
        event = consumer.poll(timeout)
        if event is None or event.is_empty():
            return events
        events.append(event)


def comparable(events) -> list:
    return [(int(e.jobid), dict(e), e.jobspec, e.R) for e in events]


def test_history_matches_flux_core_event_for_event(job, broker):
    from flux.job.journal import JournalConsumer as FluxConsumer

    handle = broker.handle()
    ours = until_sentinel(job(handle, include_sentinel=True).start())
    theirs = until_sentinel(FluxConsumer(handle, include_sentinel=True).start())
    assert len(ours) > 100
    assert comparable(ours) == comparable(theirs)
    assert [str(e) for e in ours] == [str(e) for e in theirs]


def test_history_is_sorted_and_sentinel_is_the_shared_object(job, broker):
    consumer = job(broker.handle(), include_sentinel=True).start()
    events = []
    while True:
        event = consumer.poll(30.0)
        events.append(event)
        if event.is_empty():
            break
    assert events[-1] is job.SENTINEL_EVENT
    stamps = [e.timestamp for e in events[:-1]]
    assert stamps == sorted(stamps)


def test_callback_path_gives_the_same_events_and_reactor_run_returns(job, broker):
    handle = broker.handle()
    polled = until_sentinel(job(handle, include_sentinel=True).start())
    got = []
    consumer = job(handle, include_sentinel=True)

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


def test_stop_right_after_start_still_delivers_the_whole_history(job, broker):
    handle = broker.handle()
    expected = until_sentinel(job(handle, include_sentinel=True).start())
    consumer = job(handle).start()
    consumer.stop()
    got = []
    while (event := consumer.poll(30.0)) is not None:
        got.append(event)
    assert comparable(got) == comparable(expected)
    assert consumer.poll(0.1) is None


def test_live_events_match_flux_core(job, broker):
    from flux.job.journal import JournalConsumer as FluxConsumer

    handle = broker.handle()
    ours = job(handle, full=False).start()
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


def test_timeout_then_carry_on(job, broker):
    broker.run("queue", "drain")  # no active job: nothing in the backlog, nothing live
    consumer = job(broker.handle(), full=False).start()
    with pytest.raises(TimeoutError):
        consumer.poll(0)
    with pytest.raises(TimeoutError):
        consumer.poll(0.05)
    broker.run("submit", "true")
    assert consumer.poll(30.0).name == "submit"


def test_other_threads_run_while_poll_waits(job, broker):
    # the filter keeps the events of jobs other tests left running from ending the wait
    consumer = job(broker.handle(), full=False, allow=["no-such-event"]).start()
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


def test_allow_filter_is_applied_by_the_service(job, broker):
    handle = broker.handle()
    everything = until_sentinel(job(handle, include_sentinel=True).start())
    allowed = until_sentinel(job(handle, include_sentinel=True, allow=["submit", "clean"]).start())
    expected = [e for e in everything if e.name in ("submit", "clean")]
    assert comparable(allowed) == comparable(expected)


def test_resource_journal_matches_flux_core(impl, broker):
    from flux.resource import ResourceJournalConsumer as FluxResource

    handle = broker.handle()
    ours = impl.ResourceJournalConsumer(handle, include_sentinel=True).start()
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


# -- receiving in C --------------------------------------------------------------------------


class Counting:
    """Counts the calls of flux-python's RPC methods a receive loop would make."""

    NAMES = ("wait_for", "get_str", "get", "reset", "is_ready", "then")

    def __init__(self, monkeypatch):
        from flux.rpc import RPC

        self.calls = dict.fromkeys(self.NAMES, 0)
        for name in self.NAMES:
            original = getattr(RPC, name)

            def counted(future, *args, _name=name, _original=original, **kwargs):
                self.calls[_name] += 1
                return _original(future, *args, **kwargs)

            monkeypatch.setattr(RPC, name, counted)


def test_the_compiled_consumer_receives_through_libflux_in_c(broker, monkeypatch):
    """The compiled core takes the responses with libflux-core's functions, from C: no
    method of flux-python's future is called, by poll() or by the then-callback."""
    core = pytest.importorskip("fluxjournal._core")
    handle = broker.handle()
    expected = until_sentinel(_pycore.JournalConsumer(handle, include_sentinel=True).start())
    counting = Counting(monkeypatch)
    polled = core.JournalConsumer(handle, include_sentinel=True).start()
    assert polled.receives_natively
    got = until_sentinel(polled)
    called_back = []
    consumer = core.JournalConsumer(handle, include_sentinel=True)

    def on_event(event):
        if event.is_empty():
            consumer.stop()
        else:
            called_back.append(event)

    consumer.set_callback(on_event).start()
    assert consumer.receives_natively
    assert handle.reactor_run() >= 0
    assert counting.calls == dict.fromkeys(Counting.NAMES, 0)
    assert comparable(got) == comparable(expected) == comparable(called_back)
    assert consumer.poll(5.0) is None


def test_other_handles_keep_the_general_path(impl):
    from fluxjournal.testing import ReplayFlux

    consumer = impl.JournalConsumer(ReplayFlux([b'{"id":-1,"events":[]}'])).start()
    assert not getattr(consumer, "receives_natively", False)


def test_poll_runs_no_other_watcher_of_the_handles_reactor(job, broker):
    """As flux-core's: poll() waits on a reactor of the future's own."""
    handle = broker.handle()
    fired = []
    timer = handle.timer_watcher_create(0.01, lambda *args: fired.append(1), repeat=0.01)
    timer.start()
    try:
        consumer = job(handle, full=False, allow=["no-such-event"]).start()
        with pytest.raises(TimeoutError):
            consumer.poll(0.3)
    finally:
        timer.stop()
        timer.destroy()
    assert fired == []


def test_a_callback_exception_leaves_reactor_run_on_a_broker(job, broker):
    handle = broker.handle()

    def boom(event):
        raise LookupError(event.name)

    job(handle).set_callback(boom).start()
    with pytest.raises(LookupError):
        handle.reactor_run()


def test_after_a_callback_exception_the_next_reactor_run_carries_on(broker):
    """docs/CONTRACT.md section 4: the compiled core leaves the stream armed."""
    core = pytest.importorskip("fluxjournal._core")
    handle = broker.handle()
    expected = until_sentinel(core.JournalConsumer(handle, include_sentinel=True).start())
    got = []
    consumer = core.JournalConsumer(handle, include_sentinel=True)

    def on_event(event):
        if event.is_empty():
            consumer.stop()
            return
        got.append(event)
        if len(got) == 1:
            raise LookupError("the first event")

    consumer.set_callback(on_event).start()
    with pytest.raises(LookupError):
        handle.reactor_run()
    consumer.stop()  # a response (the end of the stream) that wakes the callback again
    assert handle.reactor_run() >= 0
    assert comparable(got) == comparable(expected)


def test_ctrl_c_interrupts_a_poll_that_waits_for_ever(broker):
    """The compiled wait gives way to Python's signal handlers: KeyboardInterrupt, and the
    consumer carries on afterwards."""
    core = pytest.importorskip("fluxjournal._core")
    consumer = core.JournalConsumer(broker.handle(), full=False).start()
    assert consumer.receives_natively
    # flux-python's own wait leaves SIGINT at SIG_DFL when it times out: put Python's back
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.3, signal.raise_signal, (signal.SIGINT,))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            consumer.poll()
    finally:
        timer.join()
        signal.signal(signal.SIGINT, previous)
    broker.run("submit", "true")
    assert consumer.poll(30.0).name == "submit"


def test_the_future_read_in_c_outlives_a_replaced_rpc_attribute(broker):
    """``rpc`` is a public attribute: replacing it must not free the future read from C."""
    import gc

    core = pytest.importorskip("fluxjournal._core")
    handle = broker.handle()

    def history() -> list:
        return until_sentinel(core.JournalConsumer(handle, include_sentinel=True).start())

    # the session's broker may still be finishing an earlier test's jobs: a settled history
    expected, again = history(), history()
    while comparable(again) != comparable(expected):
        time.sleep(0.5)
        expected, again = again, history()
    consumer = core.JournalConsumer(handle, include_sentinel=True).start()
    consumer.rpc = object()
    gc.collect()
    assert comparable(until_sentinel(consumer)) == comparable(expected)
