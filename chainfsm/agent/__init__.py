"""The agent: the state machine's handlers and loop, and their plumbing."""
