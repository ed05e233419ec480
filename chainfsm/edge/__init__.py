"""The file system, inotify and plugin execs: what the core decides about, read and written."""
