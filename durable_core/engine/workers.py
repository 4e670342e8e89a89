"""Worker identity and detection of dead lease owners on this host."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WorkerId:
    """``host:pid:token``: unique per app instance; host and pid let a restart spot dead owners."""

    host: str
    pid: int
    token: str

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.token}"

    @classmethod
    def new(cls) -> WorkerId:
        """A fresh id for this process."""
        return cls(socket.gethostname()[:100], os.getpid(), uuid.uuid4().hex[:12])

    @classmethod
    def parse(cls, text: str) -> WorkerId | None:
        """Parse a stored owner string; None if it is not one of ours."""
        host, sep, rest = text.rpartition(":")
        if not sep:
            return None
        host2, sep2, pid_text = host.rpartition(":")
        if not sep2 or not pid_text.isdigit():
            return None
        return cls(host2, int(pid_text), rest)


def dead_local_owners(owners: list[str], me: WorkerId) -> list[str]:
    """Owners on this host whose process no longer exists (their leases can be taken at once)."""
    dead = []
    for owner in owners:
        parsed = WorkerId.parse(owner)
        if parsed is None or parsed.host != me.host or parsed.pid == me.pid:
            continue
        if not _pid_alive(parsed.pid):
            dead.append(owner)
    return dead


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
