"""Pure logic: the core judged on bytes and names, no conf dir, no agent, no process."""
