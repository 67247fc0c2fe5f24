"""Tests for fluxjournal.testing: the ReplayFlux and SimulatedFlux stand-ins for a broker.

They check the wire behaviour of flux-core 0.88.0's journal services and flux-python's
futures (docs/CONTRACT.md), the shape of the simulated journal, and, when flux-core's Python
bindings import, that flux-core's own consumers run on the stand-ins unchanged.
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import fluxjournal.testing
from fluxjournal import JournalConsumer
from fluxjournal.testing import (
    FLUX_REACTOR_NOWAIT,
    FLUX_REACTOR_ONCE,
    FLUX_RPC_NORESPONSE,
    FLUX_RPC_STREAMING,
    ReplayFlux,
    SimulatedFlux,
)
from fluxjournal.testing.recorded import capture_dir, capture_lines
from fluxjournal.wire import protocol

DATA = capture_dir()
CAPTURES = sorted(DATA.glob("*.jsonl"))
FULL_LIVE = DATA / "job-journal-full-live.jsonl"
RESOURCE = DATA / "resource-journal.jsonl"
JOB_TOPIC = "job-manager.events-journal"
RESOURCE_TOPIC = "resource.journal"
SENTINEL = b'{"id":-1,"events":[]}'


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def jansson_dumps(value) -> str:
    """Compact JSON as jansson writes it (keys in order, reals with %.17g, raw UTF-8)."""
    if isinstance(value, dict):
        items = (
            json.dumps(k, ensure_ascii=False) + ":" + jansson_dumps(v) for k, v in value.items()
        )
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(jansson_dumps(v) for v in value) + "]"
    if isinstance(value, float):
        text = f"{value:.17g}"
        return text if ("." in text or "e" in text) else text + ".0"
    return json.dumps(value, ensure_ascii=False)


def ready(future) -> list[bytes]:
    """Every payload that is ready now, in order, stopping at an error response."""
    out = []
    while future.is_ready() and future.error_string() is None:
        out.append(future.get_bytes())
        future.reset()
    return out


def stream(handle, payload=None, topic=JOB_TOPIC):
    if payload is None:
        payload = {"full": True}
    return handle.rpc(topic, payload, 0, FLUX_RPC_STREAMING)


def cancel(handle, future, topic=JOB_TOPIC) -> None:
    handle.rpc(f"{topic}-cancel", {"matchtag": future.pimpl.get_matchtag()}, 0, FLUX_RPC_NORESPONSE)


def assert_enodata(future, within: float = -1.0) -> None:
    """The stream has ended; with ``within`` >= 0, it must within that many seconds."""
    if within >= 0:
        future.wait_for(within)  # a TimeoutError rather than a hang when it does not end
    for read in (future.get, future.get_str, future.get_bytes):
        with pytest.raises(OSError) as info:
            read()
        assert info.value.errno == errno.ENODATA


def split(payloads: list[bytes]):
    """(backlog, live) of a job journal, as decoded objects, around the one sentinel."""
    objs = [json.loads(p) for p in payloads]
    marks = [i for i, o in enumerate(objs) if o["id"] == -1]
    assert len(marks) == 1 and objs[marks[0]] == {"id": -1, "events": []}
    return objs[: marks[0]], objs[marks[0] + 1 :]


# -- the package -----------------------------------------------------------------------


def test_the_captures_ship_in_the_package():
    assert DATA == Path(fluxjournal.testing.__file__).resolve().parent / "captures"
    names = {path.name for path in DATA.iterdir()}
    assert {"job-journal-full-live.jsonl", "resource-journal.jsonl", "job-list-mix.json"} <= names
    assert len(CAPTURES) >= 5
    for path in CAPTURES:
        assert capture_lines(path.name) == [line for line in lines_of(path) if line]


def test_every_name_of_the_old_module_is_still_exported():
    names = [
        "FLUX_MATCHTAG_NONE",
        "FLUX_NODEID_ANY",
        "FLUX_REACTOR_NOWAIT",
        "FLUX_REACTOR_ONCE",
        "FLUX_RPC_NORESPONSE",
        "FLUX_RPC_STREAMING",
        "JOB_JOURNAL_TOPIC",
        "JOB_SENTINEL",
        "RESOURCE_JOURNAL_TOPIC",
        "RESOURCE_SENTINEL",
        "FakeFlux",
        "FakeRPC",
        "Payload",
        "ReplayFlux",
        "SimulatedFlux",
    ]
    assert sorted(fluxjournal.testing.__all__) == sorted(names)
    assert all(hasattr(fluxjournal.testing, name) for name in names)


def test_the_wire_constants_are_the_protocol_modules():
    testing = fluxjournal.testing
    assert testing.FLUX_RPC_STREAMING == protocol.FLUX_RPC_STREAMING == 2
    assert testing.FLUX_RPC_NORESPONSE == protocol.FLUX_RPC_NORESPONSE == 1
    assert testing.JOB_JOURNAL_TOPIC == protocol.JOB_TOPIC == JOB_TOPIC
    assert testing.RESOURCE_JOURNAL_TOPIC == protocol.RESOURCE_TOPIC == RESOURCE_TOPIC
    assert testing.JOB_SENTINEL == SENTINEL


def test_importing_the_stand_ins_leaves_the_broker_out():
    code = "import sys, fluxjournal.testing; print('fluxjournal.testing.broker' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- ReplayFlux ------------------------------------------------------------------------


def test_the_jansson_model_matches_every_capture():
    # The yardstick used below for "compact JSON exactly like flux-core's".
    for path in CAPTURES:
        for line in path.read_text(encoding="utf-8").splitlines():
            assert jansson_dumps(json.loads(line)) == line


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
@pytest.mark.parametrize("topic", [JOB_TOPIC, RESOURCE_TOPIC])
def test_replay_serves_each_capture_verbatim_then_enodata_after_cancel(path, topic):
    handle = ReplayFlux.from_file(path)
    future = stream(handle, {} if topic == RESOURCE_TOPIC else None, topic)
    assert ready(future) == lines_of(path)
    with pytest.raises(TimeoutError):
        future.wait_for(0)  # the stream stays open
    cancel(handle, future, topic)
    assert_enodata(future)


def test_replay_cancel_right_away_still_delivers_every_recorded_response():
    handle = ReplayFlux.from_file(FULL_LIVE)
    future = stream(handle)
    cancel(handle, future)
    expected = lines_of(FULL_LIVE)
    for line in expected:
        assert future.wait_for(0).get_bytes() == line
        future.reset()
    assert_enodata(future)
    future.reset()
    with pytest.raises(TimeoutError):
        future.wait_for(0.01)  # as flux-core: nothing follows the end of the stream


def test_replay_each_request_is_an_independent_stream():
    handle = ReplayFlux.from_file(FULL_LIVE)
    first, second = stream(handle), stream(handle)
    tags = (first.pimpl.get_matchtag(), second.pimpl.get_matchtag())
    assert tags[0] != tags[1] and min(tags) > 0
    assert first.get_bytes() == lines_of(FULL_LIVE)[0]
    cancel(handle, first)
    assert ready(second) == lines_of(FULL_LIVE)
    assert ready(first) == lines_of(FULL_LIVE)  # its first was read, not reset
    assert_enodata(first)
    with pytest.raises(TimeoutError):
        second.wait_for(0)


def test_replay_mapping_serves_each_topic_its_own_and_only_those():
    handle = ReplayFlux({RESOURCE_TOPIC: ['{"events":[]}\n']})
    assert ready(stream(handle, {}, RESOURCE_TOPIC)) == [b'{"events":[]}']
    with pytest.raises(OSError) as info:
        stream(handle).get()
    assert info.value.errno == errno.ENOSYS


def test_replay_mapping_without_a_service_says_so():
    handle = ReplayFlux({JOB_TOPIC: [SENTINEL]})
    with pytest.raises(OSError) as info:
        stream(handle, {}, RESOURCE_TOPIC).get()
    assert info.value.strerror == f"No service matching {RESOURCE_TOPIC} is registered"


def test_replay_from_file_on_one_topic():
    handle = ReplayFlux.from_file(RESOURCE, topic=RESOURCE_TOPIC)
    assert ready(stream(handle, {}, RESOURCE_TOPIC)) == lines_of(RESOURCE)
    with pytest.raises(OSError):
        stream(handle).get()


def test_replay_serves_undecodable_payloads_as_they_are():
    handle = ReplayFlux([b'{"id":1,"events":[', "plain text"])
    future = stream(handle)
    assert future.get_bytes() == b'{"id":1,"events":['
    with pytest.raises(ValueError):
        future.get()
    future.reset()
    assert future.get_str() == "plain text"


def test_replay_wants_an_iterable_of_payloads():
    with pytest.raises(TypeError):
        ReplayFlux('{"id":-1,"events":[]}')
    with pytest.raises(TypeError):
        ReplayFlux([{"id": -1}])


def test_replay_that_ends_closes_the_stream_after_the_last_payload():
    for topic in (JOB_TOPIC, RESOURCE_TOPIC):
        handle = ReplayFlux.from_file(FULL_LIVE, ends=True)
        future = stream(handle, None, topic)
        assert ready(future) == lines_of(FULL_LIVE)
        assert_enodata(future, within=5)  # no cancel needed
        future.reset()
        with pytest.raises(TimeoutError):
            future.wait_for(0.01)  # as after a cancel: nothing follows the end


def test_replay_that_ends_still_honours_a_cancel_and_the_reactor_returns():
    handle = ReplayFlux([SENTINEL, b'{"id":1,"events":[]}'], ends=True)
    cancelled = stream(handle)
    cancel(handle, cancelled)
    assert ready(cancelled) == [SENTINEL, b'{"id":1,"events":[]}']
    assert_enodata(cancelled)
    seen = []

    def on_response(f):
        try:
            seen.append(f.get_bytes())
        except OSError as exc:
            seen.append(exc.errno)  # no reset: it would re-arm the timeout
            if exc.errno == errno.ETIMEDOUT:  # the stream did not end: end it, not to hang
                cancel(handle, f)
        else:
            f.reset()

    stream(handle).then(on_response, timeout=5)
    assert handle.reactor_run() == 0  # the stream ended by itself: no stop() needed
    assert seen == [SENTINEL, b'{"id":1,"events":[]}', errno.ENODATA]


def test_replay_of_an_empty_capture_that_ends_is_enodata_at_once(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"\n\n")
    handle = ReplayFlux.from_file(path, ends=True)
    assert handle.line_numbers == ()
    assert_enodata(stream(handle), within=5)
    consumer = JournalConsumer(handle).start()
    assert consumer.poll(timeout=5) is None
    with pytest.raises(TimeoutError):
        stream(ReplayFlux.from_file(path)).wait_for(0)  # without ends: open, silent


def capture_without_sentinel(tmp_path: Path) -> tuple[Path, list[bytes]]:
    """FULL_LIVE less its sentinel, with blank lines in it: the file and its lines."""
    lines = [line for line in lines_of(FULL_LIVE) if line != SENTINEL]
    spaced = [lines[0], b"", *lines[1:5], b"", b"", *lines[5:], b""]
    path = tmp_path / "no-sentinel.jsonl"
    path.write_bytes(b"\n".join(spaced))
    return path, spaced


def test_journal_consumer_stops_at_the_end_of_a_replay_that_ends(tmp_path):
    path, _ = capture_without_sentinel(tmp_path)
    payloads = [json.loads(line) for line in lines_of(FULL_LIVE) if line != SENTINEL]
    entries = [(p["id"], e) for p in payloads for e in p["events"]]
    history = sorted(entries, key=lambda item: item[1]["timestamp"])  # all of it is history
    consumer = JournalConsumer(ReplayFlux.from_file(path, ends=True)).start()
    events = []
    while (event := consumer.poll(timeout=5)) is not None:
        events.append(event)
    assert as_tuples(events) == [(j, e["name"], e["timestamp"]) for j, e in history]
    assert consumer.poll(timeout=5) is None


def test_journal_consumer_waits_at_the_end_of_a_replay_that_does_not_end(tmp_path):
    path, _ = capture_without_sentinel(tmp_path)
    handle = ReplayFlux.from_file(path)
    consumer = JournalConsumer(handle).start()
    with pytest.raises(TimeoutError):
        consumer.poll(timeout=0.05)  # the history is never complete: the stream is open
    consumer.stop()
    assert consumer.poll(timeout=5) is not None  # the history, cut short by the cancel


def test_replay_line_numbers_name_the_line_of_each_served_payload(tmp_path):
    path, spaced = capture_without_sentinel(tmp_path)
    for handle in (ReplayFlux.from_file(path), ReplayFlux.from_file(path, JOB_TOPIC)):
        served = ready(stream(handle))
        assert len(handle.line_numbers) == len(served) == len(spaced) - 4
        assert [spaced[n - 1] for n in handle.line_numbers] == served
        assert handle.line_numbers[:7] == (1, 3, 4, 5, 6, 9, 10)
    resource = ReplayFlux.from_file(path, RESOURCE_TOPIC)
    assert resource.line_numbers == ReplayFlux.from_file(path).line_numbers
    assert ReplayFlux.from_file(FULL_LIVE).line_numbers == tuple(range(1, 126))


def test_replay_line_numbers_of_payloads_given_directly():
    assert ReplayFlux(["a", "", "b\n", b"\r\n", b"c"]).line_numbers == (1, 3, 5)
    mapping = {RESOURCE_TOPIC: ["", "r"], JOB_TOPIC: ["j", "", "", "k"]}
    assert ReplayFlux(mapping).line_numbers == (1, 4)  # the job journal's
    assert ReplayFlux({RESOURCE_TOPIC: ["", "r"]}).line_numbers == (2,)
    assert ReplayFlux({}).line_numbers == ()


# -- requests the services refuse ------------------------------------------------------


@pytest.mark.parametrize(
    "payload, flags, message",
    [
        ({"full": True}, 0, "job-manager.events requires streaming RPC flag"),
        ({"allow": ["submit"]}, FLUX_RPC_STREAMING, "job-manager.events allow should be an object"),
        ({"deny": "submit"}, FLUX_RPC_STREAMING, "job-manager.events deny should be an object"),
        ({"allow": None}, FLUX_RPC_STREAMING, "job-manager.events allow should be an object"),
        ({"full": 1}, FLUX_RPC_STREAMING, None),
        ("[]", FLUX_RPC_STREAMING, None),
        ("not json", FLUX_RPC_STREAMING, None),
        (None, FLUX_RPC_STREAMING, None),
    ],
)
@pytest.mark.parametrize("make", [lambda: ReplayFlux([SENTINEL]), lambda: SimulatedFlux(10)])
def test_job_journal_request_errors_are_eproto(make, payload, flags, message):
    future = make().rpc(JOB_TOPIC, payload, 0, flags)
    with pytest.raises(OSError) as info:
        future.get()
    assert info.value.errno == errno.EPROTO
    if message:
        assert info.value.strerror == message
        assert future.error_string() == message


def test_resource_journal_needs_the_streaming_flag_only():
    handle = SimulatedFlux(0)
    with pytest.raises(OSError) as info:
        handle.rpc(RESOURCE_TOPIC, {}).get()
    assert info.value.errno == errno.EPROTO
    assert stream(handle, None, RESOURCE_TOPIC).get_bytes().startswith(b'{"events":[')


@pytest.mark.parametrize(
    "topic, message",
    [
        ("job-manager.no-such-thing", "Unknown service method 'job-manager.no-such-thing'"),
        ("no-such-service.hello", "No service matching no-such-service.hello is registered"),
    ],
)
def test_unknown_topics_get_enosys(topic, message):
    with pytest.raises(OSError) as info:
        SimulatedFlux(0).rpc(topic, {}).get_str()
    assert (info.value.errno, info.value.strerror) == (errno.ENOSYS, message)


def test_a_one_way_request_is_ready_at_once_and_holds_no_message():
    one_way = SimulatedFlux(0).rpc("no-such-service.hello", {}, 0, FLUX_RPC_NORESPONSE)
    assert one_way.is_ready() and one_way.pimpl.get_matchtag() == 0
    for read in (one_way.get, one_way.get_str, one_way.get_bytes):
        with pytest.raises(OSError) as info:
            read()
        assert info.value.errno == errno.EINVAL


def test_bad_flags_fail_in_rpc_itself():
    with pytest.raises(OSError) as info:
        SimulatedFlux(0).rpc(JOB_TOPIC, {}, 0, 4)
    assert info.value.errno == errno.EINVAL


def test_a_cancel_is_never_answered():
    handle = ReplayFlux([SENTINEL])
    future = stream(handle)
    no_reply = handle.rpc(f"{JOB_TOPIC}-cancel", {"matchtag": future.pimpl.get_matchtag()})
    with pytest.raises(TimeoutError):
        no_reply.wait_for(0.01)
    assert ready(future) == [SENTINEL]
    assert_enodata(future)  # the cancel itself did take effect


def test_a_cancel_must_name_the_stream_and_its_service():
    handle = ReplayFlux([SENTINEL])
    future = stream(handle)
    tag = future.pimpl.get_matchtag()
    for topic, body in [
        (f"{JOB_TOPIC}-cancel", {"matchtag": tag + 1}),
        (f"{JOB_TOPIC}-cancel", {"tag": tag}),
        (f"{RESOURCE_TOPIC}-cancel", {"matchtag": tag}),
    ]:
        handle.rpc(topic, body, 0, FLUX_RPC_NORESPONSE)
    assert ready(future) == [SENTINEL]
    with pytest.raises(TimeoutError):
        future.wait_for(0)


# -- the future and the reactor ----------------------------------------------------------


def test_wait_for_returns_the_future_and_get_decodes():
    future = stream(ReplayFlux.from_file(FULL_LIVE))
    assert future.wait_for(-1.0) is future
    assert future.get() == json.loads(lines_of(FULL_LIVE)[0])
    assert future.get_str() == lines_of(FULL_LIVE)[0].decode()


def test_a_timeout_loses_nothing():
    handle = ReplayFlux.from_file(FULL_LIVE)
    future = stream(handle)
    got = ready(future)
    with pytest.raises(TimeoutError) as info:
        future.wait_for(0)
    assert info.value.errno == errno.ETIMEDOUT
    with pytest.raises(TimeoutError):
        future.wait_for(0.001)
    cancel(handle, future)
    assert got == lines_of(FULL_LIVE)
    assert_enodata(future)


def test_a_cancel_from_another_thread_wakes_a_blocked_wait():
    handle = ReplayFlux.from_file(FULL_LIVE)
    future = stream(handle)
    ready(future)
    waiting = threading.Event()

    def cancel_when_waiting():
        waiting.wait()
        cancel(handle, future)

    canceller = threading.Thread(target=cancel_when_waiting)
    canceller.start()
    waiting.set()
    try:
        future.wait_for(30.0)  # returns as soon as the cancel lands
    finally:
        canceller.join()
    assert_enodata(future)


def test_then_twice_is_eexist_and_then_none_is_refused():
    future = stream(ReplayFlux([SENTINEL]))
    future.then(lambda f: None)
    with pytest.raises(OSError) as info:
        future.then(lambda f: None)
    assert info.value.errno == errno.EEXIST
    with pytest.raises(ValueError):
        stream(ReplayFlux([SENTINEL])).then(None)


def test_reactor_runs_callbacks_and_returns_zero_once_the_stream_ended():
    handle = ReplayFlux.from_file(FULL_LIVE)
    future = stream(handle)
    got, errors = [], []

    def on_response(f, tag, sep=""):
        try:
            got.append(tag + sep + f.get_str())
            if len(got) == 3:
                cancel(handle, f)
        except OSError as exc:
            errors.append(exc.errno)
        finally:
            f.reset()

    future.then(on_response, "r", sep=":")
    assert handle.reactor_run() == 0
    assert got == ["r:" + line.decode() for line in lines_of(FULL_LIVE)]
    assert errors == [errno.ENODATA]
    assert handle.reactor_run() == 0  # nothing left to do


def test_reactor_run_without_callbacks_returns_at_once():
    handle = ReplayFlux([SENTINEL])
    stream(handle)  # an open stream with no callback does not keep the reactor busy
    assert handle.reactor_run() == 0


def test_reactor_stop_from_a_callback_and_from_another_thread():
    handle = ReplayFlux([SENTINEL])
    future = stream(handle)
    seen = []

    def on_response(f):
        seen.append(f.get_bytes())
        f.reset()
        handle.reactor_stop()

    future.then(on_response)
    assert handle.reactor_run() > 0  # stopped with the stream still open
    assert seen == [SENTINEL]
    returned = threading.Event()

    def stop_until_returned():
        while not returned.is_set():
            handle.reactor_stop()
            returned.wait(0.01)

    stopper = threading.Thread(target=stop_until_returned)
    stopper.start()
    try:
        assert handle.reactor_run() > 0  # blocked on the open stream until stopped
    finally:
        returned.set()
        stopper.join()


def test_reactor_nowait_and_once():
    handle = ReplayFlux([b"{}", b"{}"])
    future = stream(handle)
    seen = []

    def on_response(f):
        seen.append(f.get_bytes())
        f.reset()

    future.then(on_response)
    assert handle.reactor_run(flags=FLUX_REACTOR_ONCE) == 1 and seen == [b"{}"]
    assert handle.reactor_run(flags=FLUX_REACTOR_NOWAIT) == 1 and seen == [b"{}", b"{}"]
    assert handle.reactor_run(flags=FLUX_REACTOR_NOWAIT) == 1  # open, idle: no blocking
    cancel(handle, future)
    with pytest.raises(OSError):
        handle.reactor_run(flags=FLUX_REACTOR_ONCE)  # on_response does not expect ENODATA
    assert handle.reactor_run() == 0


def test_an_exception_in_a_callback_comes_out_of_reactor_run():
    handle = ReplayFlux.from_file(FULL_LIVE)
    future = stream(handle)
    calls = []

    def on_response(f):
        calls.append(f.get_bytes())
        raise KeyError("boom")

    future.then(on_response)
    with pytest.raises(KeyError):
        handle.reactor_run()
    cancel(handle, future)
    # As flux-python, the failing future is stopped: a restarted reactor does not call it.
    assert handle.reactor_run() == 0
    assert calls == [lines_of(FULL_LIVE)[0]]


def test_then_timeout_fulfills_with_etimedout():
    handle = ReplayFlux([])
    future = stream(handle)
    seen = []

    def on_response(f):
        try:
            f.get()
        except OSError as exc:
            seen.append(exc.errno)
        if seen[-1] == errno.ETIMEDOUT:
            f.reset()  # a reset re-arms the timer, so not after the end of the stream
            cancel(handle, f)

    future.then(on_response, timeout=0.001)
    assert handle.reactor_run() == 0
    assert seen[0] == errno.ETIMEDOUT and seen[-1] == errno.ENODATA


# -- SimulatedFlux ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim() -> SimulatedFlux:
    return SimulatedFlux(jobs=600, seed=7, live=900, active=40)


@pytest.fixture(scope="module")
def full(sim) -> list[bytes]:
    return list(sim.journal_payloads())


def test_simulated_payloads_are_compact_json_like_flux_cores(full):
    for payload in full:
        assert jansson_dumps(json.loads(payload)).encode() == payload


def test_simulated_backlog_one_response_per_job_then_the_sentinel(sim, full):
    backlog, live = split(full)
    assert len(backlog) == sim.jobs and len({r["id"] for r in backlog}) == sim.jobs
    assert full[sim.jobs] == SENTINEL and len(live) == sim.live
    inactive, active = backlog[: sim.jobs - sim.active], backlog[sim.jobs - sim.active :]
    assert all(r["events"][-1]["name"] == "clean" for r in inactive)
    assert not any(e["name"] == "clean" for r in active for e in r["events"])
    # hash-table order: neither by time nor by id
    submits = [r["events"][0]["timestamp"] for r in inactive]
    assert submits != sorted(submits)
    assert [r["id"] for r in inactive] != sorted(r["id"] for r in inactive)


def test_simulated_backlog_entries_jobspec_and_r(sim, full):
    backlog, _ = split(full)
    for response in backlog:
        names = [e["name"] for e in response["events"]]
        times = [e["timestamp"] for e in response["events"]]
        assert names[0] == "submit" and times == sorted(times) and len(set(times)) == len(times)
        assert max(times) <= sim.request_time
        assert "annotations" not in names
        assert "jobspec" in response
        assert ("R" in response) == ("alloc" in names)


def test_simulated_live_one_event_each_jobspec_on_submit_r_on_alloc(sim, full):
    _, live = split(full)
    for response in live:
        (event,) = response["events"]
        assert event["timestamp"] > sim.request_time
        assert ("jobspec" in response) == (event["name"] == "submit")
        assert ("R" in response) == (event["name"] == "alloc")


def test_simulated_live_is_reordered_across_jobs_never_within_one(full):
    backlog, live = split(full)
    last = {r["id"]: r["events"][-1]["timestamp"] for r in backlog}
    crossings = 0
    previous = None
    for response in live:
        jobid, t = response["id"], response["events"][0]["timestamp"]
        assert t > last.get(jobid, 0.0)
        last[jobid] = t
        if previous and previous[0] != jobid and previous[1] > t:
            crossings += 1
        previous = (jobid, t)
    assert crossings > 0


def test_simulated_job_ids_are_fluids_of_their_submit_times(sim, full):
    backlog, live = split(full)
    submits = [(r["events"][0]["timestamp"], r["id"]) for r in backlog]
    submits += [
        (r["events"][0]["timestamp"], r["id"]) for r in live if r["events"][0]["name"] == "submit"
    ]
    submits.sort()
    ids = [jobid for _, jobid in submits]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for t, jobid in submits:
        assert (jobid >> 10) & 0x3FFF == 0  # generator 0 (rank 0)
        assert 0 <= t - (sim.epoch + (jobid >> 24) / 1000) < 0.002


def test_simulated_job_mix_has_the_captured_shapes(full):
    backlog, live = split(full)
    entries = [e for r in backlog + live for e in r["events"]]
    names = {e["name"] for e in entries}
    assert names >= {
        "submit",
        "validate",
        "depend",
        "priority",
        "alloc",
        "start",
        "finish",
        "release",
        "free",
        "clean",
        "exception",
        "urgency",
        "memo",
        "dependency-add",
        "dependency-remove",
        "annotations",
    }
    exceptions = {e["context"]["type"] for e in entries if e["name"] == "exception"}
    assert exceptions == {"cancel", "timeout"}
    statuses = {e["context"]["status"] for e in entries if e["name"] == "finish"}
    assert {0, 256, 36608} <= statuses
    held_then_cancelled = [
        r
        for r in backlog
        if [e["name"] for e in r["events"]][-2:] == ["exception", "clean"]
        and r["events"][0]["context"]["urgency"] == 0
    ]
    assert held_then_cancelled
    timeouts = [
        r
        for r in backlog
        if any(e.get("context", {}).get("type") == "timeout" for e in r["events"])
    ]
    assert all(r["R"]["execution"]["expiration"] > 0 for r in timeouts)
    assert all(r["jobspec"]["attributes"]["system"]["duration"] > 0 for r in timeouts)


def test_simulated_journal_is_deterministic_per_seed(full):
    again = SimulatedFlux(jobs=600, seed=7, live=900, active=40)
    assert list(again.journal_payloads()) == full
    other = SimulatedFlux(jobs=600, seed=8, live=900, active=40)
    assert list(other.journal_payloads()) != full


def test_simulated_stream_serves_the_journal_then_enodata(sim, full):
    future = stream(sim)
    assert ready(future) == full
    with pytest.raises(TimeoutError):
        future.wait_for(0)
    cancel(sim, future)
    assert_enodata(future)


def test_simulated_without_full_sends_active_jobs_only(sim, full):
    backlog, live = split(full)
    payloads = ready(stream(sim, {"full": False}))
    active_backlog, same_live = split(payloads)
    assert active_backlog == backlog[sim.jobs - sim.active :]
    assert same_live == live
    assert list(sim.journal_payloads(full=False)) == payloads


def test_simulated_allow_and_deny_filter_entries_not_responses(sim, full):
    backlog, live = split(full)
    allowed = ready(stream(sim, {"full": True, "allow": {"clean": 1}, "deny": {"free": 1}}))
    f_backlog, f_live = split(allowed)
    assert [r["id"] for r in f_backlog] == [r["id"] for r in backlog]
    empty = [r for r in f_backlog if r["events"] == []]
    assert len(empty) == sim.active  # active jobs have no clean yet, yet are sent
    assert all("jobspec" in r for r in empty)
    assert f_live == [r for r in live if r["events"][0]["name"] == "clean"]
    denied = ready(stream(sim, {"full": True, "deny": {"submit": 1, "alloc": 1}}))
    d_backlog, d_live = split(denied)
    assert [[e for e in r["events"] if e["name"] not in ("submit", "alloc")] for r in backlog] == [
        r["events"] for r in d_backlog
    ]
    assert d_live == [r for r in live if r["events"][0]["name"] not in ("submit", "alloc")]
    assert not any("jobspec" in r or "R" in r for r in d_live)


def test_simulated_cancel_keeps_the_backlog_and_drops_undelivered_live(sim, full):
    future = stream(sim)
    cancel(sim, future)
    assert ready(future) == full[: sim.jobs + 1]
    assert_enodata(future)
    future = stream(sim)
    head = []
    for _ in range(sim.jobs + 5):
        head.append(future.wait_for(0).get_bytes())
        future.reset()
    cancel(sim, future)
    assert head == full[: sim.jobs + 5]
    assert_enodata(future)


def test_simulated_rate_paces_live_responses():
    handle = SimulatedFlux(jobs=30, seed=1, live=10, rate=0.001)
    future = stream(handle)
    assert ready(future)[-1] == SENTINEL
    with pytest.raises(TimeoutError):
        future.wait_for(0.01)  # the first live response is due in 1000 s
    cancel(handle, future)
    assert_enodata(future)


def test_simulated_resource_journal_batches_and_sentinel():
    handle = SimulatedFlux(jobs=0, seed=3, nodes=8, drains=120)
    future = stream(handle, {}, RESOURCE_TOPIC)
    payloads = [json.loads(p) for p in ready(future)]
    assert payloads[-1] == {"events": []}
    assert all(set(p) <= {"events", "R"} for p in payloads)
    defines = [p for p in payloads if any(e["name"] == "resource-define" for e in p["events"])]
    assert len(defines) == 1 and len(defines[0]["events"]) == 1
    assert [p for p in payloads if "R" in p] == defines
    assert all(0 < len(p["events"]) <= 100 for p in payloads[:-1])
    assert sum(len(p["events"]) for p in payloads) == 2 + 1 + 1 + 240
    cancel(handle, future, RESOURCE_TOPIC)
    assert_enodata(future)


def test_simulated_handles_an_empty_instance():
    handle = SimulatedFlux(jobs=0, live=5)
    backlog, live = split(list(handle.journal_payloads()))
    assert backlog == [] and len(live) == 5


# -- SimulatedFlux: requests after some live events (posted), the purge (keep_inactive) ---

ARGS = {"jobs": 200, "seed": 11, "live": 1500, "active": 30}


def eventlogs(backlog, live=()) -> dict[int, list]:
    """Each job's entries: its backlog response's, then its live ones but annotations."""
    logs: dict[int, list] = {}
    for response in backlog:
        assert response["id"] not in logs  # one backlog response a job
        logs[response["id"]] = list(response["events"])
    for response in live:
        logs.setdefault(response["id"], []).extend(
            e for e in response["events"] if e["name"] != "annotations"
        )
    return logs


def n_inactive(backlog) -> int:
    """How many responses lead the backlog whose eventlog ends with clean (checked)."""
    ends = [bool(r["events"]) and r["events"][-1]["name"] == "clean" for r in backlog]
    count = ends.count(True)
    assert ends == [True] * count + [False] * (len(ends) - count)
    return count


@pytest.fixture(scope="module")
def posted_zero() -> tuple[list, list]:
    return split(list(SimulatedFlux(**ARGS).journal_payloads()))


@pytest.fixture(scope="module")
def complete(posted_zero) -> dict[int, list]:
    """Every job's complete eventlog: the backlog at posted=0, then all its live events."""
    return eventlogs(*posted_zero)


def test_simulated_posted_zero_is_the_default_instance(sim, full):
    again = SimulatedFlux(jobs=600, seed=7, live=900, active=40, posted=0)
    assert list(again.journal_payloads()) == full
    assert again.asked_at == again.request_time == sim.request_time


@pytest.mark.parametrize("k", [0, 1, 7, 300, 777, 1499, 1500])
def test_simulated_posted_backlog_and_live_add_up_to_the_same_eventlogs(k, posted_zero, complete):
    handle = SimulatedFlux(**ARGS, posted=k)
    backlog, live = split(list(handle.journal_payloads()))
    assert eventlogs(backlog, live) == complete
    assert len(live) == ARGS["live"] - k
    assert live == posted_zero[1][k:]  # the live stream goes on where the k events end
    assert ready(stream(handle)) == list(handle.journal_payloads())


def test_simulated_posted_all_live_events_puts_them_all_in_the_backlog(complete):
    backlog, live = split(list(SimulatedFlux(**ARGS, posted=ARGS["live"]).journal_payloads()))
    assert live == [] and eventlogs(backlog) == complete


@pytest.mark.parametrize("k", [1, 300, 1500])
def test_simulated_posted_backlog_is_each_jobs_eventlog_at_that_moment(k, posted_zero):
    handle = SimulatedFlux(**ARGS, posted=k)
    backlog, _ = split(list(handle.journal_payloads()))
    before, live0 = posted_zero
    old = {r["id"]: r for r in before}
    submitted = {r["id"]: r for r in live0[:k] if r["events"][0]["name"] == "submit"}
    allocated = {r["id"]: r["R"] for r in live0[:k] if r["events"][0]["name"] == "alloc"}
    assert len(backlog) == len(old) + len(submitted)
    assert {r["id"] for r in backlog} == old.keys() | submitted.keys()
    for response in backlog:
        names = [e["name"] for e in response["events"]]
        times = [e["timestamp"] for e in response["events"]]
        assert names[0] == "submit" and times == sorted(times)
        assert max(times) <= handle.asked_at
        assert "annotations" not in names
        assert ("R" in response) == ("alloc" in names)
        first = old.get(response["id"]) or submitted[response["id"]]
        assert response["jobspec"] == first["jobspec"]
        if response["id"] in allocated:  # its alloc is among the k events
            assert response["R"] == allocated[response["id"]]
    if k >= 300:
        assert n_inactive(backlog) > n_inactive(before)  # jobs ended meanwhile


def test_simulated_posted_backlog_order_is_fixed_and_hash_like(posted_zero):
    payloads = list(SimulatedFlux(**ARGS, posted=777).journal_payloads())
    assert list(SimulatedFlux(**ARGS, posted=777).journal_payloads()) == payloads
    backlog, _ = split(payloads)
    old = {r["id"] for r in posted_zero[0]}
    active = backlog[n_inactive(backlog) :]
    ids = [r["id"] for r in active]
    assert ids != sorted(ids)
    # the jobs submitted meanwhile are spread among the others, not put at the end
    new_places = [i for i, jobid in enumerate(ids) if jobid not in old]
    assert new_places and new_places != list(range(len(ids) - len(new_places), len(ids)))
    assert new_places[0] < len(ids) - len(new_places)


def test_simulated_posted_moves_the_moment_of_the_request(posted_zero):
    live0 = posted_zero[1]
    previous = SimulatedFlux(**ARGS).asked_at
    for k in (1, 2, 50, 51, 1500):
        handle = SimulatedFlux(**ARGS, posted=k)
        assert handle.request_time == SimulatedFlux(**ARGS).request_time
        assert handle.asked_at >= previous
        assert handle.asked_at >= max(r["events"][0]["timestamp"] for r in live0[:k])
        previous = handle.asked_at
    assert previous > SimulatedFlux(**ARGS).request_time + 1.0


def test_simulated_posted_without_full_and_with_filters():
    handle = SimulatedFlux(**ARGS, posted=300)
    backlog, live = split(list(handle.journal_payloads()))
    active, active_live = split(ready(stream(handle, {"full": False})))
    assert active == backlog[n_inactive(backlog) :] and active_live == live
    request = {"full": True, "allow": {"submit": 1, "clean": 1}, "deny": {"clean": 1}}
    f_backlog, f_live = split(ready(stream(handle, request)))
    assert [r["id"] for r in f_backlog] == [r["id"] for r in backlog]
    assert all(r["events"] == r0["events"][:1] for r, r0 in zip(f_backlog, backlog))
    assert f_live == [r for r in live if r["events"][0]["name"] == "submit"]


@pytest.mark.parametrize("posted", [-1, ARGS["live"] + 1])
def test_simulated_posted_must_be_among_the_live_events(posted):
    with pytest.raises(ValueError):
        SimulatedFlux(**ARGS, posted=posted)


def test_simulated_keep_inactive_must_not_be_negative():
    with pytest.raises(ValueError):
        SimulatedFlux(**ARGS, keep_inactive=-1)


def latest_inactive(backlog, keep: int) -> set[int]:
    """The ids of the ``keep`` inactive jobs of ``backlog`` whose clean is latest."""
    inactive = backlog[: n_inactive(backlog)]
    inactive.sort(key=lambda r: r["events"][-1]["timestamp"], reverse=True)
    return {r["id"] for r in inactive[:keep]}


@pytest.mark.parametrize("posted", [0, 300, 1500])
@pytest.mark.parametrize("keep", [0, 1, 5, 40, 160, 10_000])
def test_simulated_keep_inactive_purges_all_but_the_latest_inactive(posted, keep):
    unpurged, live = split(list(SimulatedFlux(**ARGS, posted=posted).journal_payloads()))
    handle = SimulatedFlux(**ARGS, posted=posted, keep_inactive=keep)
    backlog, purged_live = split(list(handle.journal_payloads()))
    count = n_inactive(backlog)
    assert count == min(keep, n_inactive(unpurged))
    assert {r["id"] for r in backlog[:count]} == latest_inactive(unpurged, keep)
    assert backlog[:count] == [r for r in unpurged if r["id"] in latest_inactive(unpurged, keep)]
    assert backlog[count:] == unpurged[n_inactive(unpurged) :]  # active jobs: never purged
    assert purged_live == live
    assert ready(stream(handle, {"full": False})) == ready(
        stream(SimulatedFlux(**ARGS, posted=posted), {"full": False})
    )


def test_simulated_keep_inactive_counts_jobs_that_ended_after_the_request():
    # 300 events end some of the active jobs: they are the most recently inactive.
    unpurged, _ = split(list(SimulatedFlux(**ARGS, posted=300).journal_payloads()))
    before, _ = split(list(SimulatedFlux(**ARGS).journal_payloads()))
    ended_earlier = {r["id"] for r in before[: n_inactive(before)]}
    ended = {r["id"] for r in unpurged[: n_inactive(unpurged)]} - ended_earlier
    assert len(ended) > 3
    for keep, expected_old in ((3, 0), (len(ended), 0), (len(ended) + 4, 4)):
        backlog, _ = split(
            list(SimulatedFlux(**ARGS, posted=300, keep_inactive=keep).journal_payloads())
        )
        kept = {r["id"] for r in backlog[: n_inactive(backlog)]}
        assert len(kept) == keep and len(kept & ended_earlier) == expected_old
        if keep >= len(ended):
            assert ended <= kept  # every job that ended after the request is kept
        else:
            assert kept <= ended  # and only those while there is no room for more


# -- flux-core's own consumers on the stand-ins -----------------------------------------


def expected_job_events(payloads: list[bytes], full: bool = True, since: float = 0.0):
    """What flux-core 0.88.0's JournalConsumer yields, worked out from the payloads."""
    objs = [json.loads(p) for p in payloads]
    if full:
        end = next(i for i, o in enumerate(objs) if o["id"] == -1)
        history = [(o["id"], e) for o in objs[:end] for e in o["events"]]
        history.sort(key=lambda item: item[1]["timestamp"])
        objs = objs[end + 1 :]
    else:
        history = []
    live = [(o["id"], e) for o in objs for e in o["events"]]

    def kept(items):
        return [(j, e["name"], e["timestamp"]) for j, e in items if e["timestamp"] > since]

    return kept(history), kept(live)


def as_tuples(events):
    return [(int(e.jobid), e.name, e.timestamp) for e in events]


def poll_until_quiet(consumer) -> list:
    events = []
    while True:
        try:
            events.append(consumer.poll(timeout=0))
        except TimeoutError:
            return events


@pytest.fixture
def journal():
    return pytest.importorskip("flux.job.journal")


@pytest.mark.parametrize("source", ["replay", "simulated"])
@pytest.mark.parametrize("full_history", [True, False])
def test_flux_core_consumer_poll(journal, source, full_history):
    if source == "replay":
        path = FULL_LIVE if full_history else DATA / "job-journal-nonfull.jsonl"
        handle, payloads = ReplayFlux.from_file(path), lines_of(path)
    else:
        handle = SimulatedFlux(jobs=300, seed=4, live=200, active=20)
        payloads = list(handle.journal_payloads(full=full_history))
    consumer = journal.JournalConsumer(handle, full=full_history, include_sentinel=True)
    consumer.start()
    events = poll_until_quiet(consumer)
    history, live = expected_job_events(payloads, full_history)
    if full_history:
        assert as_tuples(events[: len(history)]) == history
        assert events[len(history)] is journal.SENTINEL_EVENT
        events = events[len(history) + 1 :]
    assert as_tuples(events) == live  # without full, no sentinel even when asked for
    for event in events:
        assert (event.jobspec is not None) == (event.name == "submit")
        assert (event.R is not None) == (event.name == "alloc")
    consumer.stop()
    assert consumer.poll(timeout=5.0) is None


def test_flux_core_consumer_poll_times_out_on_a_quiet_instance(journal):
    handle = SimulatedFlux(jobs=10, active=0)
    consumer = journal.JournalConsumer(handle, full=False).start()
    with pytest.raises(TimeoutError):
        consumer.poll(timeout=0.01)
    with pytest.raises(TimeoutError):
        consumer.poll(timeout=0)
    consumer.stop()
    assert consumer.poll(timeout=5.0) is None


def test_flux_core_consumer_since(journal):
    handle = ReplayFlux.from_file(FULL_LIVE)
    history, live = expected_job_events(lines_of(FULL_LIVE))
    since = history[len(history) // 2][2]
    consumer = journal.JournalConsumer(handle, since=since).start()
    events = poll_until_quiet(consumer)
    assert as_tuples(events) == expected_job_events(lines_of(FULL_LIVE), since=since)[0] + live
    assert all(e.timestamp > since for e in events)


@pytest.mark.parametrize("source", ["replay", "simulated"])
def test_flux_core_consumer_callback(journal, source):
    if source == "replay":
        handle, payloads = ReplayFlux.from_file(FULL_LIVE), lines_of(FULL_LIVE)
    else:
        handle = SimulatedFlux(jobs=300, seed=5, live=200, active=20)
        payloads = list(handle.journal_payloads())
    history, live = expected_job_events(payloads)
    events = []
    consumer = journal.JournalConsumer(handle, include_sentinel=True)

    def never(event):
        raise AssertionError("a replaced callback was called")

    def on_event(event, tag, kw=None):
        assert (tag, kw) == ("t", "k")
        events.append(event)
        if len(events) == len(history) + 1 + len(live):
            consumer.stop()

    consumer.set_callback(never).start().set_callback(on_event, "t", kw="k")
    assert handle.reactor_run() == 0  # returns once the stream has ended (ENODATA)
    assert as_tuples(events[: len(history)]) == history
    assert events[len(history)] is journal.SENTINEL_EVENT
    assert as_tuples(events[len(history) + 1 :]) == live


def test_flux_core_consumer_callback_exception_leaves_reactor_run(journal):
    handle = SimulatedFlux(jobs=20, seed=6)
    consumer = journal.JournalConsumer(handle)

    def on_event(event):
        raise RuntimeError("from the callback")

    consumer.set_callback(on_event).start()
    with pytest.raises(RuntimeError, match="from the callback"):
        handle.reactor_run()


def test_flux_core_consumer_stop_right_after_start_keeps_the_history(journal):
    handle = SimulatedFlux(jobs=100, seed=9, live=50, active=10)
    history, _ = expected_job_events(list(handle.journal_payloads()))
    consumer = journal.JournalConsumer(handle).start()
    consumer.stop()
    events = []
    while (event := consumer.poll(timeout=5.0)) is not None:
        events.append(event)
    assert as_tuples(events) == history


def test_flux_core_consumer_restart_opens_a_new_stream(journal):
    handle = ReplayFlux.from_file(FULL_LIVE)
    consumer = journal.JournalConsumer(handle).start()
    first = consumer.rpc
    consumer.start()
    assert consumer.rpc.pimpl.get_matchtag() != first.pimpl.get_matchtag()
    events = poll_until_quiet(consumer)
    history, live = expected_job_events(lines_of(FULL_LIVE))
    assert as_tuples(events) == history + live
    consumer.stop()
    assert consumer.poll(timeout=5.0) is None
    assert ready(first) == lines_of(FULL_LIVE)  # the first stream is untouched and open
    with pytest.raises(TimeoutError):
        first.wait_for(0)


@pytest.mark.parametrize("source", ["replay", "simulated"])
def test_flux_core_resource_consumer(source):
    resource = pytest.importorskip("flux.resource")
    if source == "replay":
        handle, payloads = ReplayFlux.from_file(RESOURCE), lines_of(RESOURCE)
    else:
        handle = SimulatedFlux(jobs=0, nodes=3, drains=60)
        payloads = handle.resource_payloads()
    entries = [e for p in payloads for e in json.loads(p)["events"]]
    consumer = resource.ResourceJournalConsumer(handle, include_sentinel=True).start()
    events = poll_until_quiet(consumer)
    expected = sorted(entries, key=lambda e: e["timestamp"])
    assert [(e.name, e.timestamp) for e in events[:-1]] == [
        (e["name"], e["timestamp"]) for e in expected
    ]
    assert events[-1].is_empty()
    defined = [e for e in events if not e.is_empty() and e.name == "resource-define"]
    assert defined and defined[0].R is not None
    consumer.stop()
    assert consumer.poll(timeout=5.0) is None
