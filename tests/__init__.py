"""chainfsm's tests, by kind: unit (pure), agent (real files and inotify), runtime (root or
real runtime parts; marked ``runtime``), image (the container image), shipped (deploy/, docs,
the lock, diagrams), and support (the helpers and shared names they import)."""
