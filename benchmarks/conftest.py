"""pytest-benchmark suite: fluxjournal's compiled core, its pure-Python twin and flux-core's
consumer (when its bindings import), on identical payload bytes.

Sizes come from ``--bench-jobs`` (or ``FLUXJOURNAL_BENCH_JOBS``); the small default makes a
smoke pass (``pytest benchmarks/ --benchmark-disable``) take seconds. Real runs use 30000
jobs, about 300k events (see benchmarks/README.md). Payloads are generated once per size and
session, outside every timed region. Peak memory growth is measured in a fresh child process
per case (``fluxjournal.bench.harness.measure``), recorded in ``extra_info`` and printed at the end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
from pathlib import Path
from typing import Any, Callable

import pytest

from fluxjournal import decode_response
from fluxjournal.bench import harness, ingest
from fluxjournal.bench.harness import CYTHON, FLUX_CORE, PYTHON, Case, Measurement, Prepared
from fluxjournal.bench.payloads import (
    big_R,
    count_events,
    history_payloads,
    live_payloads,
    with_R,
    write_payloads,
)
from fluxjournal.testing.broker import LocalBroker
from fluxjournal.testing.recorded import capture_dir
from fluxjournal.wire import bindings
from fluxjournal.wire.protocol import FLUX_RPC_NORESPONSE, FLUX_RPC_STREAMING, JOB_TOPIC

#: The recorded captures shipped in the package.
DATA = capture_dir()
HAVE_FLUX = bindings.find_bindings()
IMPLS = (CYTHON, PYTHON, FLUX_CORE)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else default


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("fluxjournal", "fluxjournal benchmark sizes")
    group.addoption(
        "--bench-jobs",
        type=int,
        default=_env_int("FLUXJOURNAL_BENCH_JOBS", 1000),
        help="jobs in the simulated history (env FLUXJOURNAL_BENCH_JOBS; default 1000, "
        "real runs: 30000)",
    )
    group.addoption(
        "--bench-live",
        type=int,
        default=_env_int("FLUXJOURNAL_BENCH_LIVE", 0),
        help="live one-event responses (default: twice --bench-jobs)",
    )
    group.addoption(
        "--bench-heavy-jobs",
        type=int,
        default=_env_int("FLUXJOURNAL_BENCH_HEAVY_JOBS", 0),
        help="jobs of the history whose every R is a 1,000-node allocation "
        "(default: --bench-jobs / 30, at least 20)",
    )
    group.addoption(
        "--bench-rounds",
        type=int,
        default=_env_int("FLUXJOURNAL_BENCH_ROUNDS", 3),
        help="timed rounds per benchmark (default 3)",
    )
    group.addoption(
        "--bench-memory",
        choices=("auto", "on", "off"),
        default=os.environ.get("FLUXJOURNAL_BENCH_MEMORY", "auto"),
        help="measure peak memory growth in a child process per case (auto: unless "
        "--benchmark-disable)",
    )
    group.addoption(
        "--bench-long-events",
        type=int,
        default=_env_int("FLUXJOURNAL_BENCH_LONG_EVENTS", 20_000),
        help="live events of the long live run (env FLUXJOURNAL_BENCH_LONG_EVENTS; default "
        "20000, the full run: 10000000)",
    )
    group.addoption(
        "--bench-long-drains",
        type=int,
        default=_env_int("FLUXJOURNAL_BENCH_LONG_DRAINS", 20),
        help="drains of the captures in the long run (env FLUXJOURNAL_BENCH_LONG_DRAINS; "
        "default 20, the full run: 1000)",
    )
    group.addoption(
        "--bench-broker-jobs",
        type=int,
        default=_env_int("FLUXJOURNAL_BENCH_BROKER_JOBS", 0),
        help="run the real-broker group on a fresh `flux start` instance with this many "
        "jobs submitted (default 0: skipped)",
    )


@dataclasses.dataclass(frozen=True)
class Config:
    """The sizes of this run."""

    jobs: int
    live: int
    heavy_jobs: int
    rounds: int
    memory: bool
    broker_jobs: int
    long_events: int = 20_000
    long_drains: int = 20


@pytest.fixture(scope="session")
def config(request: pytest.FixtureRequest) -> Config:
    opt = request.config.getoption
    jobs = max(1, opt("--bench-jobs"))
    memory = opt("--bench-memory")
    disabled = bool(opt("benchmark_disable", False))
    return Config(
        jobs=jobs,
        live=opt("--bench-live") or 2 * jobs,
        heavy_jobs=opt("--bench-heavy-jobs") or max(20, jobs // 30),
        rounds=max(1, opt("--bench-rounds")),
        memory=memory == "on" or (memory == "auto" and not disabled),
        broker_jobs=opt("--bench-broker-jobs"),
        long_events=max(1, opt("--bench-long-events")),
        long_drains=max(1, opt("--bench-long-drains")),
    )


# -- payload sets -----------------------------------------------------------------------


@dataclasses.dataclass
class PayloadSet:
    """Payloads with what the benchmarks need to know about them, computed once."""

    name: str
    payloads: list[bytes]
    events: int
    stream: str
    directory: Path
    _file: Path | None = None

    @property
    def megabytes(self) -> float:
        return sum(map(len, self.payloads)) / 1e6

    @property
    def file(self) -> Path:
        """The payloads written out, one per line, for a child process to replay."""
        if self._file is None:
            self._file = write_payloads(self.payloads, self.directory / f"{self.name}.jsonl")
        return self._file


class Payloads:
    """The session's payload sets, generated lazily and cached by size."""

    def __init__(self, config: Config, directory: Path) -> None:
        self.config = config
        self.directory = directory
        self._cache: dict[tuple, PayloadSet] = {}

    def _get(self, key: tuple, make: Callable[[], tuple[list[bytes], int, str]]) -> PayloadSet:
        if key not in self._cache:
            payloads, events, stream = make()
            name = "-".join(str(k) for k in key)
            self._cache[key] = PayloadSet(name, payloads, events, stream, self.directory)
        return self._cache[key]

    def history(self, jobs: int | None = None) -> PayloadSet:
        """The history of a simulated instance (default: ``--bench-jobs`` jobs)."""
        jobs = jobs or self.config.jobs

        def make() -> tuple[list[bytes], int, str]:
            payloads = history_payloads(jobs)
            return payloads, count_events(payloads), "history"

        return self._get(("history", jobs), make)

    def live(self) -> PayloadSet:
        """The sentinel, then ``--bench-live`` one-event responses."""
        n = self.config.live
        return self._get(("live", n), lambda: (live_payloads(n), n, "live"))

    def heavy(self) -> PayloadSet:
        """A history whose every R is that of a 1,000-node allocation."""
        jobs = self.config.heavy_jobs

        def make() -> tuple[list[bytes], int, str]:
            payloads = with_R(history_payloads(jobs), big_R(1000))
            return payloads, count_events(payloads), "history"

        return self._get(("heavy", jobs), make)

    def captures(self) -> PayloadSet:
        """Every recorded payload of the captures (job and resource journals)."""

        def make() -> tuple[list[bytes], int, str]:
            lines = [
                line
                for path in sorted(DATA.glob("*.jsonl"))
                for line in path.read_bytes().splitlines()
                if line.strip()
            ]
            return lines, 0, "captures"

        return self._get(("captures",), make)


@pytest.fixture(scope="session")
def payloads(config: Config, tmp_path_factory: pytest.TempPathFactory) -> Payloads:
    return Payloads(config, tmp_path_factory.mktemp("payloads"))


# -- implementations --------------------------------------------------------------------


def available(impl: str) -> bool:
    if impl == FLUX_CORE:
        return HAVE_FLUX
    if impl == CYTHON:
        return harness.has_extension()
    return True


def skip_unless_available(impl: str) -> None:
    if not available(impl):
        reason = {
            FLUX_CORE: "flux-core's Python bindings do not import (put `flux` on PATH)",
            CYTHON: "the compiled core fluxjournal._core is not built",
        }[impl]
        pytest.skip(reason)


@pytest.fixture
def require() -> Callable[[str], None]:
    """``require(impl)`` skips the test when that implementation is not available here."""
    return skip_unless_available


@pytest.fixture(params=IMPLS)
def impl(request: pytest.FixtureRequest) -> str:
    """Each consumer: fluxjournal's extension, its twin, flux-core's (skipped if absent)."""
    skip_unless_available(request.param)
    return request.param


# -- running a case ---------------------------------------------------------------------

_memory_rows: list[tuple[str, str, int, float, str]] = []
_memory_cache: dict[tuple, Measurement] = {}


def memory_of(case: Case, data: PayloadSet, uri: str | None = None) -> Measurement:
    """Peak RSS growth of ``case`` in a fresh child (one untimed-for-us run, cached)."""
    key = (case, data.name, uri)
    if key not in _memory_cache:
        _memory_cache[key] = harness.measure(
            case, None if uri else data.file, data.events, repeat=1, uri=uri
        )
    return _memory_cache[key]


class Runner:
    """Runs one case under pytest-benchmark, checks what it delivered, records memory."""

    def __init__(self, config: Config, request: pytest.FixtureRequest) -> None:
        self.config = config
        self.request = request

    def __call__(
        self,
        benchmark: Any,
        case: Case,
        data: PayloadSet,
        *,
        handle_factory: Callable[[], Any] | None = None,
        uri: str | None = None,
        memory: bool = True,
    ) -> None:
        expect = data.events
        if case.since:
            expect = count_events(data.payloads, case.since)
        pending: list[Prepared] = []

        def setup() -> tuple[tuple[Prepared], dict]:
            for prepared in pending:  # a broker stream is closed outside the timing
                prepared.close()
            pending.clear()
            handle = handle_factory() if handle_factory is not None else None
            prepared = harness.prepare(case, data.payloads, data.events, handle)
            if handle is not None:
                pending.append(prepared)
            gc.collect()
            return (prepared,), {}

        delivered = benchmark.pedantic(
            lambda prepared: prepared(), setup=setup, rounds=self.config.rounds
        )
        for prepared in pending:
            prepared.close()
        if delivered is not None:
            assert delivered == expect, f"{case.impl} delivered {delivered} of {expect} events"
        info = benchmark.extra_info
        info.update(
            implementation=case.impl,
            mode=case.mode,
            events=expect,
            payload_mb=round(data.megabytes, 2),
        )
        stats = getattr(benchmark, "stats", None)
        if stats is not None and stats.stats.min > 0:
            info["events_per_s"] = round(expect / stats.stats.min)
        if memory and self.config.memory:
            m = memory_of(case, data, uri)
            info["peak_rss_growth_mb"] = round(m.peak_mb, 2)
            info["memory_method"] = m.memory_method
            info["kb_per_event"] = round(1024 * m.peak_mb / expect, 3) if expect else None
            _memory_rows.append(
                (self.request.node.nodeid.split("::")[-1], case.mode, expect, m.peak_mb, data.name)
            )


@pytest.fixture
def run_case(config: Config, request: pytest.FixtureRequest) -> Runner:
    """``run_case(benchmark, case, payload_set)``: time a case, check it, add its memory."""
    return Runner(config, request)


# -- the ingest group ------------------------------------------------------------------

_ingest_results: dict[str, dict[str, ingest.IngestMeasurement]] = {}


@pytest.fixture(scope="session")
def db_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the ingest group's databases go: beside the payload files, on the same disk."""
    return tmp_path_factory.mktemp("databases")


class IngestRunner:
    """Runs one row of the ingest group under pytest-benchmark.

    Each round gets a new database (:func:`fluxjournal.bench.ingest.prepare`, untimed), which is
    checked and removed after it. Returns the closed :class:`ingest.PreparedIngest` of every
    round (empty for the drain), for the test to check what was written. Peak memory comes
    from a fresh child (``--bench-memory``), the ratios are printed at the end of the run.
    """

    def __init__(self, config: Config, db_dir: Path, request: pytest.FixtureRequest) -> None:
        self.config = config
        self.db_dir = db_dir
        self.request = request

    def __call__(self, benchmark: Any, row: ingest.IngestRow, data: PayloadSet) -> list:
        case = row.case
        done: list[ingest.PreparedIngest] = []
        pending: list[ingest.PreparedIngest] = []

        def finish() -> None:
            for prepared in pending:
                prepared.close()
            done.extend(pending)
            pending.clear()

        def setup() -> tuple[tuple[Prepared], dict]:
            finish()
            prepared = ingest.prepare(case, data.payloads, data.events, None, self.db_dir)
            if isinstance(prepared, ingest.PreparedIngest):
                pending.append(prepared)
            gc.collect()
            return (prepared,), {}

        try:
            result = benchmark.pedantic(
                lambda prepared: prepared(), setup=setup, rounds=self.config.rounds
            )
        finally:
            finish()
        expected = row.expected(data.events)
        what = "wrote" if row.writes else "delivered"
        assert result == expected, f"{row.name} {what} {result} rows, expected {expected}"
        info = benchmark.extra_info
        info.update(
            row=row.name,
            implementation=case.impl,
            mode=case.mode,
            events=data.events,
            payload_mb=round(data.megabytes, 2),
        )
        if row.writes:
            info["rows_written"] = result
        peak = None
        if self.config.memory:
            m = memory_of_ingest(case, data, self.db_dir)
            peak = m.peak_mb
            info["peak_rss_growth_mb"] = round(peak, 2)
            info["memory_method"] = m.memory_method
            _memory_rows.append(
                (self.request.node.nodeid.split("::")[-1], case.mode, data.events, peak, data.name)
            )
        stats = getattr(benchmark, "stats", None)
        if stats is not None and stats.stats.min > 0:
            info["events_per_s"] = round(data.events / stats.stats.min)
            measurement = Measurement(
                case=case,
                events=data.events,
                seconds=stats.stats.min,
                times=list(stats.stats.data),
                peak_mb=peak,  # type: ignore[arg-type]
                memory_method=info.get("memory_method", "-"),
                delivered=result,
            )
            jobs = self.config.jobs
            _ingest_results.setdefault(data.name, {})[row.name] = ingest.IngestMeasurement(
                jobs, row, measurement
            )
        return done


def memory_of_ingest(case: Case, data: PayloadSet, directory: Path) -> Measurement:
    """Peak RSS growth of an ingest-group row in a fresh child (one run, cached)."""
    key = (case, data.name, "ingest")
    if key not in _memory_cache:
        _memory_cache[key] = ingest.measure(
            case, data.file, data.events, repeat=1, directory=directory
        )
    return _memory_cache[key]


@pytest.fixture
def run_ingest(config: Config, db_dir: Path, request: pytest.FixtureRequest) -> IngestRunner:
    """``run_ingest(benchmark, row, payload_set)``: time an ingest-group row, check it."""
    return IngestRunner(config, db_dir, request)


def _ingest_summary(tr: Any) -> None:
    """The ingest group's ratios against their targets (reported, never asserted)."""
    if not _ingest_results:
        return
    tr.section("fluxjournal: ingest ratios (best times; targets are reported, not asserted)")
    for name, rows in _ingest_results.items():
        order = [row.name for row in ingest.ingest_rows()]
        measured = sorted(
            rows.values(), key=lambda r: order.index(r.row.name) if r.row.name in order else 99
        )
        tr.write_line(f"payloads {name}:")
        for line in ingest.format_ingest_ratios(ingest.ingest_ratios(measured)).splitlines():
            tr.write_line(line)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Memory figures beside the times: peak RSS growth of each case in a fresh child."""
    _ingest_summary(terminalreporter)
    if not _memory_rows:
        return
    tr = terminalreporter
    tr.section("fluxjournal: peak memory growth (fresh child process per case)")
    width = max(len(row[0]) for row in _memory_rows)
    tr.write_line(f"{'benchmark':<{width}}  {'events':>9}  {'peak MB':>8}  {'KB/event':>8}  data")
    for name, _mode, events, peak, data in _memory_rows:
        per_event = f"{1024 * peak / events:.3f}" if events else "-"
        tr.write_line(f"{name:<{width}}  {events:>9}  {peak:>8.1f}  {per_event:>8}  {data}")


# -- a real broker ----------------------------------------------------------------------


@dataclasses.dataclass
class BrokerHistory:
    broker: LocalBroker
    events: int
    data: PayloadSet


@pytest.fixture(scope="session")
def broker_history(config: Config, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A fresh instance with ``--bench-broker-jobs`` finished jobs: its journal history."""
    if config.broker_jobs <= 0:
        pytest.skip("real-broker group: pass --bench-broker-jobs N (e.g. 3000) to run it")
    if not HAVE_FLUX:
        pytest.skip("needs `flux` on PATH and flux-core's Python bindings")
    broker = LocalBroker(tmp_path_factory.mktemp("flux"))
    try:
        broker.run("submit", f"--cc=1-{config.broker_jobs}", "--quiet", "--wait", "true")
        recorded = _record_history(broker)
        events = count_events(recorded)
        data = PayloadSet(
            "broker", recorded, events, "history", tmp_path_factory.mktemp("broker-payloads")
        )
        yield BrokerHistory(broker, events, data)
    finally:
        broker.close()


def _record_history(broker: LocalBroker) -> list[bytes]:
    """The broker's journal responses up to the sentinel, as bytes."""
    handle = broker.handle()
    rpc = handle.rpc(JOB_TOPIC, {"full": True}, 0, FLUX_RPC_STREAMING)
    out = []
    while True:
        payload = rpc.get_str().encode()
        rpc.reset()
        out.append(payload)
        response = decode_response(payload)
        if response.id == -1 and len(response) == 0:
            break
    handle.rpc(
        f"{JOB_TOPIC}-cancel",
        {"matchtag": rpc.pimpl.get_matchtag()},
        0,
        FLUX_RPC_NORESPONSE,
    )
    with contextlib.suppress(OSError):
        while True:
            rpc.get_str()
            rpc.reset()
    return out
