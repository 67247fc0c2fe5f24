"""Decoding every payload of a history (and of the recorded captures), results kept, as a
consumer keeps its history: the stdlib, orjson and msgspec against fluxjournal's decoders."""

from __future__ import annotations

import gc

import pytest
from _decoders import DECODERS, decoder


def _decode_all(benchmark, decode, payloads, rounds: int, gc_enabled: bool = True) -> list:
    def target() -> list:
        if gc_enabled:
            return [decode(p) for p in payloads]
        gc.disable()
        try:
            return [decode(p) for p in payloads]
        finally:
            gc.enable()

    def setup():
        gc.collect()
        return (), {}

    result = benchmark.pedantic(target, setup=setup, rounds=rounds)
    megabytes = sum(map(len, payloads)) / 1e6
    benchmark.extra_info.update(payloads=len(payloads), payload_mb=round(megabytes, 2))
    stats = getattr(benchmark, "stats", None)
    if stats is not None and stats.stats.min > 0:
        benchmark.extra_info["mb_per_s"] = round(megabytes / stats.stats.min, 1)
    return result


@pytest.mark.benchmark(group="decode")
@pytest.mark.parametrize("name", DECODERS)
def test_decode_history(benchmark, payloads, config, name):
    """All payloads of a simulated history (--bench-jobs jobs), GC on."""
    data = payloads.history()
    result = _decode_all(benchmark, decoder(name), data.payloads, config.rounds)
    assert len(result) == len(data.payloads)


@pytest.mark.benchmark(group="decode-captures")
@pytest.mark.parametrize("name", DECODERS)
def test_decode_captures(benchmark, payloads, config, name):
    """All payloads recorded from a real flux-core 0.88.0 broker (the captures), GC on."""
    data = payloads.captures()
    result = _decode_all(benchmark, decoder(name), data.payloads, max(config.rounds, 5))
    assert len(result) == len(data.payloads)


@pytest.mark.benchmark(group="gc-decode")
@pytest.mark.parametrize("gc_enabled", [True, False], ids=["gc-on", "gc-off"])
@pytest.mark.parametrize(
    "name", ["json", "orjson", "msgspec-typed-raw", "cython-loads", "cython-decode_response"]
)
def test_decode_history_gc(benchmark, payloads, config, name, gc_enabled):
    """The same with the collector on and off: retained objects are what GC scans."""
    data = payloads.history()
    result = _decode_all(benchmark, decoder(name), data.payloads, config.rounds, gc_enabled)
    assert len(result) == len(data.payloads)
