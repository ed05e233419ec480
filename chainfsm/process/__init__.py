"""Around the agent: its lifecycle, signals, probes, metrics and the state dump."""
