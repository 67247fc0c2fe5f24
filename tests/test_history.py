"""History: the backlog held until the sentinel, then delivered as a stable sort by time.

The compiled core merges per-response runs (few runs by insertion, many by a radix sort of
their first records, then a small heap of the runs under way); the twin sorts. Both must
give exactly what Python's stable ``sorted`` gives, whatever the timestamps.
"""

from __future__ import annotations

import json
import random
import sys
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_response import ABOVE_LOWEST, LOWEST_INT_LIMIT, int_digits_limit

from fluxjournal import MalformedResponse

STAMPS = st.one_of(
    st.integers(-3, 3).map(float),
    st.sampled_from([0.0, -0.0, 1e-300, -1e300, 1795837730.4798303, 1795837730.47983]),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.integers(-(10**15), 10**15),
)


def payloads_for(runs: list[list[float]]) -> list[bytes]:
    """One response per job; each entry's name says where it came from."""
    out = []
    for job, stamps in enumerate(runs):
        events = [{"timestamp": t, "name": f"{job}.{k}"} for k, t in enumerate(stamps)]
        out.append(json.dumps({"id": job + 1, "events": events}).encode())
    return out


def delivered(impl, payloads: list[bytes], since: float, batch: int) -> list[str]:
    history = impl.History(since)
    for payload in payloads:
        history.add(impl.decode_response(payload))
    history.finish()
    names = []
    while len(history):
        events = history.take(batch) if batch else [history.next()]
        names += [event["name"] for event in events]
    assert history.next() is None
    return names


def expected(payloads: list[bytes], since: float) -> list[str]:
    entries = [e for p in payloads for e in json.loads(p)["events"] if e["timestamp"] > since]
    return [e["name"] for e in sorted(entries, key=lambda e: e["timestamp"])]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    runs=st.lists(st.lists(STAMPS, max_size=6), min_size=0, max_size=150),
    since=st.sampled_from([0.0, -1.0, -1e301, 1.5]),
    batch=st.sampled_from([0, 1, 7, 1000]),
)
def test_delivery_is_a_stable_sort_by_time(impl, runs, since, batch):
    payloads = payloads_for(runs)
    assert delivered(impl, payloads, since, batch) == expected(payloads, since)


@pytest.mark.parametrize("jobs", [63, 64, 65, 3000])
def test_many_overlapping_jobs(impl, jobs):
    """Jobs in hash order, each a few events over a span that overlaps many others."""
    rng = random.Random(jobs)
    runs = []
    for _ in range(jobs):
        t = rng.uniform(0, 1000)
        runs.append([round(t + rng.expovariate(1.0) * k, rng.choice([0, 3, 7])) for k in range(8)])
    for run in runs:
        run.sort()
    rng.shuffle(runs)
    payloads = payloads_for(runs)
    assert delivered(impl, payloads, 0.0, 0) == expected(payloads, 0.0)


def test_an_out_of_order_response_is_split_into_runs(impl):
    payloads = payloads_for([[5.0, 1.0, 3.0, 2.0, 2.0], [2.0, 4.0]] + [[9.0]] * 70)
    assert delivered(impl, payloads, 0.0, 0) == expected(payloads, 0.0)


@pytest.mark.parametrize("seed", range(5))
def test_many_jobs_with_odd_timestamps(impl, seed):
    """Enough runs for the radix sort, with negatives, zeros of both signs, huge and tiny."""
    rng = random.Random(seed)
    odd = [0.0, -0.0, -1.0, 1.0, 1e-300, -1e-300, 1e300, -1e300, 2.5, 1795837730.4798303]
    runs = [
        sorted(rng.choice(odd) for _ in range(rng.randint(0, 5)))
        if rng.random() < 0.8
        else [rng.choice(odd) for _ in range(rng.randint(0, 5))]
        for _ in range(rng.randint(64, 400))
    ]
    payloads = payloads_for(runs)
    for since in (0.0, -2.0, -1e301):
        assert delivered(impl, payloads, since, 0) == expected(payloads, since)


@pytest.mark.parametrize("when", ["while adding", "after finish"])
def test_a_second_init_is_refused_and_the_history_stays_whole(impl, when):
    """Calling ``__init__`` again would leave the records pointing into responses it
    replaced: it is refused, and everything kept so far is still delivered as it was."""
    payloads = payloads_for([[3.0, 4.0], [1.0], [2.0, 5.0]])
    history = impl.History(0.0)
    for payload in payloads:
        history.add(impl.decode_response(payload))
    if when == "after finish":
        history.finish()
    with pytest.raises(RuntimeError, match="already initialised"):
        history.__init__(since=4.5, resource=True)
    history.finish()
    events = history.take()
    assert [event["name"] for event in events] == expected(payloads, 0.0)
    assert all(type(event) is impl.JournalEvent for event in events)  # not resource events
    assert history.next() is None


#: Enough jobs, each a run of its own, for the merge to be long enough for another thread
#: to be scheduled while it runs.
MERGED_JOBS = 100_000
#: What the other thread tries to add meanwhile.
LATE_JOBS = 2_000


def test_a_history_being_merged_refuses_to_be_changed(impl):
    """``finish()`` may let other threads run while it merges; an ``add()`` from one of
    them then is refused, never half taken: what comes out is exactly what was added."""
    rng = random.Random(5)
    history = impl.History()

    def one_event(job: int, name: str) -> bytes:
        return json.dumps(
            {"id": job, "events": [{"timestamp": rng.uniform(0, 1e6), "name": name}]}
        ).encode()

    for job in range(MERGED_JOBS):
        history.add(impl.decode_response(one_event(job, "early")))
    late = [impl.decode_response(one_event(MERGED_JOBS + job, "late")) for job in range(LATE_JOBS)]
    merging = threading.Event()
    taken, refused = [], []

    def add_meanwhile():
        merging.wait()
        for response in late:
            try:
                history.add(response)
            except RuntimeError as exc:
                refused.append(str(exc))
            else:
                taken.append(response)

    other = threading.Thread(target=add_meanwhile)
    other.start()
    merging.set()
    history.finish()
    other.join()
    events = history.take()
    names = [event["name"] for event in events]
    assert len(taken) + len(refused) == LATE_JOBS
    assert names.count("late") == len(taken)
    assert len(names) == MERGED_JOBS + len(taken)
    assert all("being merged" in why or "after finish()" in why for why in refused)
    stamps = [event.timestamp for event in events]
    assert stamps == sorted(stamps)


@pytest.mark.skipif(not hasattr(sys, "set_int_max_str_digits"), reason="no int() digit limit")
@pytest.mark.parametrize("how", ["take", "next"])
def test_an_event_that_cannot_be_built_is_raised_once_after_the_ones_before_it(how):
    """The compiled core builds history events as they are delivered: one that can no
    longer be built (an integer int() refuses since its limit was lowered) raises once,
    after the events before it were delivered, and the history goes on after it."""
    core = pytest.importorskip("fluxjournal._core")
    long_number = "4" * ABOVE_LOWEST
    payloads = [
        b'{"id":1,"events":[{"timestamp":1.0,"name":"a"}]}',
        b'{"id":2,"events":[{"timestamp":2.0,"name":"b","context":{"n":%s}}]}'
        % long_number.encode(),
        b'{"id":3,"events":[{"timestamp":3.0,"name":"c"}]}',
    ]
    history = core.History()
    for payload in payloads:
        history.add(core.decode_response(payload))
    history.finish()

    def deliver():
        if how == "take":
            return [event.name for event in history.take()]
        event = history.next()
        return [] if event is None else [event.name]

    with int_digits_limit(LOWEST_INT_LIMIT):
        assert deliver() == ["a"]
        with pytest.raises(MalformedResponse, match="Exceeds the limit") as info:
            deliver()
        assert info.value.response == payloads[1]
        assert deliver() == ["c"]
        assert deliver() == []
        assert len(history) == 0
