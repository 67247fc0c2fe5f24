"""The benchmarks of ``fluxjournal bench``, one module per group (``consumer``, ``ingest``,
``long``, ``postgres``) over a shared ``harness`` and ``payloads``; ``command`` runs them."""
