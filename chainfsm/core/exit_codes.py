"""The agent process's exit codes, decided here and nowhere else. Pure: ``agent/exits`` says
why when a code needs saying."""

from __future__ import annotations

from chainfsm.core.states import State

#: Stopped as asked, or (--once) Verified.
OK = 0
#: Anything else: the watch lost, a dir or an address that cannot be used, --once without a
#: chain, its --timeout spent. The kubelet restarts the container; an init container fails.
FAILED = 1


def at_end(once: bool, state: State, finished: bool, asked: int | None) -> tuple[int, str | None]:
    """The exit code of an agent run that got going, and the reason to log when that code
    needs one. Pure.

    ``finished``: --once reached its end (Verified or Failed), which alone decides the code.
    ``asked``: the code a stop request asked for (None: a plain stop, such as SIGTERM)."""
    if finished:
        return (OK if state is State.Verified else FAILED), None
    code = OK if asked is None else asked
    if once and state is not State.Verified and code == OK:
        # An init container that ends without a chain must not report success.
        return FAILED, f"stopped in {state.value} before Verified: exit 1"
    return code, None
