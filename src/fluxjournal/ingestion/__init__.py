"""Ingestion: where a journal comes from (sources, the raw response stream), the engine
that keeps the per-job cursor and writes each event exactly once, and the follower of many
instances, nested ones included."""
