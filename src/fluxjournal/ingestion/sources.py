"""Where a command's journal comes from: a Flux instance, a simulation, or a recording.

- a Flux instance: ``--uri URI`` or ``$FLUX_URI``, through flux-core's Python bindings
  (importable already, or found through ``flux env``);
- ``--simulate [JOBS]``: :class:`fluxjournal.testing.SimulatedFlux`;
- ``--replay FILE``: recorded payloads, one per line; the file's end ends the stream
  (``--replay-resources FILE``: the resource journal's, which ingest then follows too).

``--record FILE`` writes the job journal's payloads of any of them to FILE, in the same
format. A source that cannot be had raises :class:`SourceError` with one line that says
what to do; a command never falls back to simulated data on its own.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import IO, Any, Callable, NamedTuple

from fluxjournal.wire.payload import reader_for
from fluxjournal.wire.protocol import JOB_TOPIC, RESOURCE_TOPIC

_NO_INSTANCE_HINT = "point --uri or FLUX_URI at a running instance, or use --simulate"


class SourceError(Exception):
    """A journal source that cannot be opened, with what to do about it."""


class Source(NamedTuple):
    """An opened source: the handle to read, what to call it, and its nature."""

    handle: Any
    description: str
    #: the name its jobs are stored under unless ``--instance`` says otherwise
    instance: str
    #: True for a Flux instance, whose live stream goes on for as long as it runs
    live: bool
    #: how to name the n-th response (1-based) in a message: a line of a replayed file
    describe_response: Callable[[int], str]
    #: how to open a handle of its own on which its resource journal is read (in a thread
    #: of its own: see ``ingestion.resources``); None: it has no resource journal to read
    resources: Callable[[], Any] | None = None


def response_number(n: int) -> str:
    """A response named by its number, for sources with nothing better."""
    return f"response {n}"


def open_source(
    *,
    uri: str | None = None,
    simulate: int | None = None,
    replay: str | None = None,
    seed: int = 0,
    live: int = 0,
    rate: float | None = None,
    posted: int = 0,
    replay_resources: str | None = None,
) -> Source:
    """Open the source the options name; a Flux instance when none is named."""
    if replay is not None:
        return _open_replay(replay, replay_resources)
    if simulate is not None:
        return _open_simulation(simulate, seed, live, rate, posted)
    return _open_instance(uri)


def _open_replay(path: str, resources_path: str | None = None) -> Source:
    from fluxjournal.testing import ReplayFlux

    try:
        handle = ReplayFlux.from_file(path, ends=True)
        resources = None
        if resources_path is not None:
            replayed = ReplayFlux.from_file(resources_path, RESOURCE_TOPIC, ends=True)
            resources = lambda: replayed  # noqa: E731 - one handle, read by one thread
    except OSError as exc:
        failed = exc.filename or path
        raise SourceError(f"cannot read replay file {failed}: {exc.strerror}") from None
    lines = handle.line_numbers

    def line_of(n: int) -> str:
        line = lines[n - 1] if 0 < n <= len(lines) else n
        return f"{path}, line {line}"

    name = f"replay:{os.path.abspath(path)}"
    return Source(handle, f"replay of {path}", name, False, line_of, resources)


#: A simulation's resources change once per this many of its live job events (``--live``,
#: ``--posted``, ``--rate`` scaled down alike).
SIMULATED_JOB_EVENTS_PER_RESOURCE_CHANGE = 100


def _open_simulation(jobs: int, seed: int, live: int, rate: float | None, posted: int) -> Source:
    from fluxjournal.testing import SimulatedFlux

    per = SIMULATED_JOB_EVENTS_PER_RESOURCE_CHANGE
    handle = SimulatedFlux(
        jobs=jobs,
        seed=seed,
        live=live,
        rate=rate,
        posted=posted,
        resource_live=live // per,
        resource_posted=posted // per,
        resource_rate=None if rate is None else rate / per,
    )
    described = f"simulated instance ({jobs} jobs, seed {seed}, {live} live events)"
    # a simulated handle serves any thread: its resource journal is read on it too
    name = f"simulated:{seed}:{jobs}"
    return Source(handle, described, name, False, response_number, lambda: handle)


def _open_instance(uri: str | None) -> Source:
    uri = uri or os.environ.get("FLUX_URI")
    if not uri:
        raise SourceError(f"no Flux instance: FLUX_URI is not set; {_NO_INSTANCE_HINT}")
    if uri.startswith(SIMULATED_SCHEME):
        from fluxjournal.testing import SimulatedFlux

        handle = SimulatedFlux.from_uri(uri)
        described = f"simulated instance {uri}"
        return Source(handle, described, uri, False, response_number, lambda: handle)
    from fluxjournal.wire import bindings

    if not bindings.find_bindings():
        raise SourceError(
            "flux-core's Python bindings do not import: install them (flux-python), run "
            "under `flux env`, or use --simulate or --replay"
        )
    import flux

    try:
        handle = flux.Flux(uri)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise SourceError(
            f"cannot reach the Flux instance at {uri}: {reason}; {_NO_INSTANCE_HINT}"
        ) from None
    name = instance_name(handle, uri)
    # a flux.Flux handle serves one thread: the resource journal's reader opens its own
    return Source(
        handle, f"Flux instance {uri}", name, True, response_number, lambda: flux.Flux(uri)
    )


#: The URIs of simulated instances (:meth:`fluxjournal.testing.SimulatedFlux.uri`): the
#: jobs of a simulation that are Flux instances give such URIs in their ``uri`` memo.
SIMULATED_SCHEME = "simulated:"
#: How long a new child instance may take to be ready (its rc1 to end).
CHILD_START_TIMEOUT = 60.0


def open_child(uri: str) -> Source:
    """The instance that a job's ``uri`` memo names, ready to be read: reached over its
    local socket when it runs on this host (as ``FLUX_URI_RESOLVE_LOCAL`` has flux-core's
    tools do), else at the ``ssh://`` URI itself; then waited for until it is up (its
    broker posts the memo before it loads its job manager), as ``flux alloc`` waits."""
    source = _open_instance(local_uri(uri))
    if source.live:
        try:
            source.handle.rpc("state-machine.wait").wait_for(CHILD_START_TIMEOUT).get()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise SourceError(f"the Flux instance at {uri} is not running: {reason}") from None
    return source


def local_uri(uri: str) -> str:
    """``uri`` as ``local://`` when it is an ``ssh://`` URI of this host whose socket is
    here, else ``uri`` itself."""
    import socket
    from urllib.parse import urlsplit

    if not uri.startswith("ssh://"):
        return uri
    parts = urlsplit(uri)
    host = (parts.hostname or "").split(".")[0]
    here = {socket.gethostname().split(".")[0], "localhost"}
    if host in here and os.path.exists(parts.path):
        return f"local://{parts.path}"
    return uri


def instance_name(handle: Any, uri: str) -> str:
    """A name for a Flux instance that survives its restarts: ``flux:`` and the time of
    the first ``start`` in its startlog (the KVS eventlog ``admin.eventlog`` that
    ``flux startlog`` reads, kept across restarts with the instance's content). flux-core
    has no instance UUID. Without a startlog the URI has to serve."""
    try:
        import flux.kvs

        log = flux.kvs.get(handle, STARTLOG_KEY)
    except (OSError, ValueError, ImportError):
        return uri
    first = _first_entry(log)
    if first is None or not isinstance(first.get("timestamp"), (int, float)):
        return uri
    return f"flux:{first['timestamp']:.6f}"


#: The KVS key of an instance's startlog (RFC 18 eventlog: one ``start`` per boot).
STARTLOG_KEY = "admin.eventlog"


def _first_entry(log: Any) -> dict | None:
    """The first entry of an eventlog as flux.kvs.get() gives it: decoded when the log has
    one line, text when it has several."""
    if isinstance(log, dict):
        return log
    if isinstance(log, bytes):
        log = log.decode("utf-8", "replace")
    if not isinstance(log, str) or not log.strip():
        return None
    import json

    try:
        entry = json.loads(log.splitlines()[0])
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


def source_from(args: Any) -> Source:
    """The source the command line names (``--uri``, ``--simulate``, ``--replay``)."""
    return open_source(
        uri=args.uri,
        simulate=args.simulate,
        replay=args.replay,
        seed=args.seed,
        live=args.live,
        rate=args.rate,
        posted=args.posted,
        replay_resources=getattr(args, "replay_resources", None),
    )


@contextlib.contextmanager
def recorded(source: Source, path: str | None) -> Iterator[Source]:
    """``source``, its journal also written to ``path`` (``--record``) when given."""
    if path is None:
        yield source
        return
    with recording(path) as record:
        yield record(source)


@contextlib.contextmanager
def recording(path: str) -> Iterator[Callable[[Source], Source]]:
    """Inside, a function that gives a source whose journal is also written to ``path``."""
    try:
        out = open(path, "wb")  # noqa: SIM115 - closed below, after the command
    except OSError as exc:
        raise SourceError(f"cannot write record file {path}: {exc.strerror}") from None
    with out:
        yield lambda source: source._replace(handle=RecordingFlux(source.handle, out))


def opened_source(args: Any) -> contextlib.AbstractContextManager[Source]:
    """The source the command line names, recorded to ``--record FILE`` when given."""
    return recorded(source_from(args), args.record)


class TappedFlux:
    """A handle that hands every job journal payload it receives to ``tap``, as it is
    taken, before the consumer sees it."""

    def __init__(self, handle: Any, tap: Callable[[bytes], Any]) -> None:
        self._handle = handle
        self._tap = tap

    def rpc(self, topic: str, *args: Any, **kwargs: Any) -> Any:
        future = self._handle.rpc(topic, *args, **kwargs)
        if topic != JOB_TOPIC:
            return future
        return TappedFuture(future, self._tap)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


class RecordingFlux(TappedFlux):
    """A handle that writes every job journal payload it receives to ``out``, one a line."""

    def __init__(self, handle: Any, out: IO[bytes]) -> None:
        super().__init__(handle, lambda payload: out.write(payload + b"\n"))


class Counted:
    """A source's handle whose job journal responses are counted as they are taken, so
    that one a consumer refuses can be named (a replayed file's line, say)."""

    def __init__(self, source: Source) -> None:
        self.taken = 0
        self.describe = source.describe_response
        self.handle = TappedFlux(source.handle, self._count)

    def _count(self, payload: bytes) -> None:
        self.taken += 1

    def last_response(self) -> str:
        """The name of the response taken last."""
        return self.describe(self.taken)


class _MatchtagOnly:
    """The part of a future's ``pimpl`` a cancel needs. Not the future's own: a reader
    that found its C handle there would read the responses past the tap."""

    __slots__ = ("get_matchtag",)

    def __init__(self, pimpl: Any) -> None:
        self.get_matchtag = pimpl.get_matchtag


class TappedFuture:
    """A journal future whose payloads go to a tap as they are taken."""

    def __init__(self, future: Any, tap: Callable[[bytes], Any]) -> None:
        self._future = future
        self._reader = reader_for(future)
        self._tap = tap
        self._payload: bytes | None = None
        self.pimpl = _MatchtagOnly(future.pimpl)

    def is_ready(self) -> bool:
        return self._payload is not None or bool(self._reader.ready())

    def wait_for(self, timeout: float = -1.0) -> TappedFuture:
        if self._payload is None:
            self._reader.wait(timeout)
        return self

    def get_bytes(self) -> bytes:
        if self._payload is None:
            self._payload = self._reader.take() or b""
            self._tap(self._payload)
        return self._payload

    def get_str(self) -> str:
        return self.get_bytes().decode("utf-8", "surrogatepass")

    def reset(self) -> None:
        self._payload = None
        self._reader.reset()

    def then(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> TappedFuture:
        self._future.then(lambda _f, *a, **k: callback(self, *a, **k), *args, **kwargs)
        return self

    def __getattr__(self, name: str) -> Any:
        return getattr(self._future, name)
