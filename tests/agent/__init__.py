"""A real agent (in-process or as a process) on real files in temp dirs, with inotify."""
