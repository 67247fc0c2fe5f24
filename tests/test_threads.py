"""Consumers and threads, on both cores.

Several consumers, one handle each, in as many threads at once: each gets exactly the
events it gets alone. One consumer called from many threads at once: every call either
works or raises the RuntimeError of ``fluxjournal.wire.protocol.IN_USE_MESSAGE``, no event is
lost or delivered twice, and the consumer ends in the state it would have alone. The GIL
is handed from thread to thread as often as the interpreter allows, so that threads meet
inside the calls that let it go.
"""

from __future__ import annotations

import contextlib
import json
import random
import sys
import threading
from collections import Counter

import pytest
from conftest import DATA, capture_lines

from fluxjournal.testing import ReplayFlux, SimulatedFlux
from fluxjournal.wire.protocol import IN_USE_MESSAGE

#: The interpreter's switch interval during these tests: as short as it goes, so that a
#: thread gives the GIL away at nearly every chance.
SWITCH_INTERVAL = 1e-6
#: Threads calling one consumer at once.
HAMMER_THREADS = 8
#: A hang is a failure: how long a joined thread may take before the test says so.
JOIN_LIMIT = 300.0
#: Each consumer of the several-threads test: its source and the API it is read with.
APIS = ("poll", "batch", "iter", "callback")
#: The simulated instances: (jobs, live events) and a seed each.
SIMULATIONS = ((200, 3000), (50, 6000), (400, 500))
IN_USE = IN_USE_MESSAGE.format("JournalConsumer").split(":")[0]


@pytest.fixture(autouse=True)
def fast_switching():
    """Switch threads as often as the interpreter can, for the length of each test."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def summary(event) -> tuple:
    """What tells two delivered events apart (hashable): class, job id, the dict."""
    text = json.dumps(event, sort_keys=True)
    return (type(event).__name__, int(getattr(event, "jobid", 0)), text)


def read(consumer, api: str) -> list:
    """Every event of a consumer whose stream ends by itself, through ``api``."""
    out: list = []
    if api == "poll":
        consumer.start()
        while (event := consumer.poll()) is not None:
            out.append(event)
    elif api == "batch":
        consumer.start()
        while batch := consumer.poll_batch(17):
            out.extend(batch)
    elif api == "iter":
        out.extend(consumer)
    else:
        consumer.set_callback(out.append).start()
        consumer.handle.reactor_run()
    return out


def sources(impl) -> list:
    """(name, a factory of a fresh consumer on a fresh handle) for each stream."""
    made = []
    for path in sorted(DATA.glob("*.jsonl")):
        lines = capture_lines(path.name)
        cls = impl.ResourceJournalConsumer if path.name.startswith("resource") else None
        cls = cls or impl.JournalConsumer

        def replay(lines=lines, cls=cls):
            return cls(ReplayFlux(lines, ends=True), include_sentinel=True)

        made.append((path.name, replay))
    for seed, (jobs, live) in enumerate(SIMULATIONS):

        def simulated(seed=seed, jobs=jobs, live=live):
            handle = SimulatedFlux(jobs=jobs, live=live, seed=seed, ends=True)
            return impl.JournalConsumer(handle, include_sentinel=True)

        made.append((f"simulated-{seed}", simulated))
    return made


def run_threads(targets) -> None:
    """Run each callable in a thread of its own, all at once; re-raise what one raised."""
    failures: list[BaseException] = []

    def guarded(target):
        try:
            target()
        except BaseException as exc:  # reported by the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=guarded, args=(t,), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(JOIN_LIMIT)
    assert not any(thread.is_alive() for thread in threads), "a thread hangs"
    if failures:
        raise failures[0]


def test_each_consumer_in_its_own_thread_gets_exactly_its_events(impl):
    """Consumers of different handles in different threads do not see each other."""
    made = sources(impl)
    alone = {name: [summary(e) for e in read(factory(), "poll")] for name, factory in made}
    got: dict[tuple[str, str], list] = {}

    def reader(name, factory, api):
        def run():
            got[name, api] = [summary(e) for e in read(factory(), api)]

        return run

    run_threads(
        [reader(name, factory, api) for name, factory in made for api in APIS],
    )
    for (name, api), events in got.items():
        assert events == alone[name], f"{name} read with {api} in a thread"
    assert len(got) == len(made) * len(APIS)


def stream_payloads() -> list[bytes]:
    """A history, its sentinel and live events: all served, then ended by a cancel."""
    return list(SimulatedFlux(jobs=300, live=4000, seed=7).journal_payloads())


def test_one_consumer_hammered_by_many_threads(impl):
    """poll, poll_batch, iteration and stop from HAMMER_THREADS threads on one consumer:
    each call works or says the consumer is in use; together they get every event once,
    and the consumer ends as it would alone."""
    payloads = stream_payloads()
    alone = impl.JournalConsumer(ReplayFlux(payloads, ends=True), include_sentinel=True)
    expected = Counter(summary(e) for e in alone)
    consumer = impl.JournalConsumer(ReplayFlux(payloads), include_sentinel=True).start()
    delivered: list = []
    refusals = Counter()
    ended = threading.Event()

    def refused(exc: RuntimeError) -> None:
        assert str(exc) == IN_USE_MESSAGE.format("JournalConsumer")
        refusals[threading.get_ident()] += 1

    def worker(seed: int):
        def run():
            rng = random.Random(seed)
            while not ended.is_set():
                choice = rng.random()
                try:
                    if choice < 0.35:
                        event = consumer.poll(rng.choice((0.0, 0.001)))
                        if event is None:
                            ended.set()
                        else:
                            delivered.append(event)
                    elif choice < 0.7:
                        batch = consumer.poll_batch(rng.randint(1, 40), 0.001)
                        if not batch:
                            ended.set()
                        delivered.extend(batch)
                    elif choice < 0.98:
                        for count, event in enumerate(consumer, 1):
                            delivered.append(event)
                            if count == rng.randint(1, 30):
                                break
                        else:
                            ended.set()
                    elif len(delivered) > len(payloads) // 2:
                        consumer.stop()  # from any thread, at any time: the end comes after
                except TimeoutError:
                    pass
                except RuntimeError as exc:
                    refused(exc)

        return run

    run_threads([worker(seed) for seed in range(HAMMER_THREADS)])
    got = Counter(summary(e) for e in delivered)
    assert got == expected, "events lost or delivered twice"
    assert sum(1 for e in delivered if e is consumer.SENTINEL_EVENT) == 1
    assert consumer.poll(0) is None
    assert consumer.poll_batch(10, 0) == []


def blocked_in_poll(consumer):
    """A thread blocked inside ``consumer.poll()`` (nothing is coming), and what it got."""
    out: list = []
    thread = threading.Thread(target=lambda: out.append(consumer.poll()), daemon=True)
    thread.start()
    return thread, out


def wait_until_refused(consumer) -> RuntimeError:
    """The RuntimeError poll(0) raises once the other thread is inside the consumer."""
    while True:
        try:
            consumer.poll(0)
        except TimeoutError:
            continue  # the other thread is not inside yet
        except RuntimeError as exc:
            return exc
        raise AssertionError("poll(0) returned while nothing was coming")


def test_a_second_thread_is_told_the_consumer_is_in_use(impl):
    """While one thread waits inside poll(), every other call that moves the consumer
    raises RuntimeError at once, and changes nothing; stop() works from any thread and
    ends the wait, after which the consumer serves the other thread again."""
    handle = SimulatedFlux(jobs=0)
    consumer = impl.JournalConsumer(handle).start()
    thread, out = blocked_in_poll(consumer)
    message = IN_USE_MESSAGE.format("JournalConsumer")
    assert str(wait_until_refused(consumer)) == message
    calls = (
        lambda: consumer.poll(0),
        lambda: consumer.poll_batch(5, 0),
        lambda: next(iter(consumer)),
        lambda: consumer.set_callback(print),
        consumer.start,
    )
    for call in calls:
        with pytest.raises(RuntimeError, match=IN_USE):
            call()
    assert consumer.cb is None  # the refused set_callback changed nothing
    consumer.stop()
    thread.join(JOIN_LIMIT)
    assert not thread.is_alive()
    assert out == [None]
    assert consumer.poll(0) is None  # the claim is gone with the call that held it


def test_the_resource_consumer_names_its_class(impl):
    consumer = impl.ResourceJournalConsumer(SimulatedFlux(jobs=0)).start()
    with contextlib.suppress(TimeoutError):
        while consumer.poll(0) is not None:
            pass  # its history is served whole, then nothing comes
    thread, _ = blocked_in_poll(consumer)
    exc = wait_until_refused(consumer)
    assert str(exc) == IN_USE_MESSAGE.format("ResourceJournalConsumer")
    consumer.stop()
    thread.join(JOIN_LIMIT)
    assert not thread.is_alive()


def test_the_thread_inside_may_come_back_in(impl):
    """A callback (run inside the consumer) may call it again: same thread, no refusal."""
    payloads = capture_lines("job-journal-full-live.jsonl")
    consumer = impl.JournalConsumer(ReplayFlux(payloads, ends=True))
    seen: list = []

    def first(event):
        seen.append(event)
        consumer.set_callback(seen.append)  # from inside the response callback

    consumer.set_callback(first).start()
    consumer.handle.reactor_run()
    alone = list(impl.JournalConsumer(ReplayFlux(payloads, ends=True)))
    assert [summary(e) for e in seen] == [summary(e) for e in alone]
