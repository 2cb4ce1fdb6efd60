"""Checks on real processes, shared by the process-lifecycle tests."""

from __future__ import annotations

import os
import time


def is_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (a zombie has already ended)."""
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split()[2] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def wait_dead(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.05)
    return False
