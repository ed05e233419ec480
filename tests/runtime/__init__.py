"""Root or the real runtime parts: every test here is marked ``runtime`` (support/gate.py)."""
