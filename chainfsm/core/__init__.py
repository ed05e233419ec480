"""The pure core: bytes, names and values in, verdicts out; no I/O."""
