"""The parts of the compiled core, ``fluxjournal._core``: ``.pxi`` files that ``_core.pyx``
includes into one extension (each after the classes it uses), and the C header they share.
Nothing here is imported; the pure-Python twin's parts (``fluxjournal._pycore``) have the
same stems."""
