"""Multi-node test harness: real Tongban nodes (gunicorn + exchange relay) on loopback, each with its
own database and var dir. See `tests/multinode/README.md`; the API lives in `harness.py`."""

from .harness import (
    ApplicantSession,
    Cluster,
    HarnessError,
    Node,
    Session,
    StaffSession,
    cluster,
    exchange_commands_available,
    wait_until,
)

__all__ = ["ApplicantSession", "Cluster", "HarnessError", "Node", "Session", "StaffSession", "cluster", "exchange_commands_available", "wait_until"]
