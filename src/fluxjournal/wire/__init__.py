"""How fluxjournal talks to a Flux instance: the journal protocol both cores read (topics,
flags, limits, refusal texts), the payload bytes taken from flux-python's futures, JSON text
as fluxjournal writes it, and flux-core's Python bindings found on the machine."""
