"""The helpers the tests share, one module per thing held; shared names live in ``constants``."""
