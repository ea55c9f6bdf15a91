"""Process hygiene for the embedded stack's child processes."""

from __future__ import annotations

import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Linux: get SIGTERM when the supervisor dies without stopping us (kill -9, a crash), so no
    orphan keeps a port. Each child calls this first thing (preexec_fn is unsafe in a threaded parent)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: the supervisor's own stop() still ends every child
