"""Which process a pid names, read from ``/proc``: so ``chainfsm dump`` signals only an agent.

A pid file outlives its process (SIGKILL, a container restart with the emptyDir kept), and the
kernel hands the number to the next process. ``is_agent`` is pure; ``start_time`` and
``cmdline`` do the reading.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from chainfsm.core.numbers import whole_number

PROC = Path("/proc")


def start_time(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (``/proc/PID/stat`` field 22): with the
    pid, it names one process for the life of the machine. None when it cannot be read."""
    try:
        stat = (PROC / str(pid) / "stat").read_bytes()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself hold spaces and ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    return whole_number(fields[19]) if len(fields) > 19 else None


def cmdline(pid: int) -> list[str]:
    """The argv of ``pid`` (OSError when it is gone or unreadable)."""
    raw = (PROC / str(pid) / "cmdline").read_bytes()
    return [arg.decode(errors="replace") for arg in raw.split(b"\0")[:-1]]


def environ(pid: int) -> dict[str, str]:
    """The environment ``pid`` started with (OSError when it is gone or not ours to read)."""
    raw = (PROC / str(pid) / "environ").read_bytes()
    pairs = (entry.decode(errors="replace").partition("=") for entry in raw.split(b"\0") if entry)
    return {name: value for name, _, value in pairs}


def is_agent(argv: list[str]) -> bool:
    """Whether ``argv`` is ``chainfsm run``: the console script (``chainfsm run``, or its
    interpreter followed by the script) or ``python -m chainfsm run``. Pure."""
    for at, program in enumerate(argv[:2]):
        if PurePosixPath(program).name == "chainfsm":
            return argv[at + 1 : at + 2] == ["run"]
    return argv[1:4] == ["-m", "chainfsm", "run"]


def parse_pid_file(text: str) -> tuple[int, int | None] | None:
    """Pure. The pid and start time a pid file holds ("PID [START]"), or None for anything
    else."""
    match [whole_number(word) for word in text.split()]:
        case [int(pid)]:
            return pid, None
        case [int(pid), int(started)]:
            return pid, started
        case _:
            return None


def running_agent(pid: int, started: int | None) -> bool:
    """Whether ``pid`` is a chainfsm agent that runs now (and, with ``started``, the very
    process that started then)."""
    try:
        if not is_agent(cmdline(pid)):
            return False
    except OSError:
        return False
    return started is None or start_time(pid) == started
