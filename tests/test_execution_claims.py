"""The execution cache's claims (loraplace.scoring.execution): which claims bind a later scorer."""
from __future__ import annotations

import os

from loraplace.scoring import execution as ec


def test_a_claim_whose_pid_now_names_another_process_binds_nobody(tmp_path):
    """A scorer killed with SIGKILL leaves its claims; once the kernel gives its pid to another
    process (here: ours, with another start time) they must not make a later scorer wait."""
    claim = tmp_path / "k.claim"
    claim.write_text(f"{os.getpid()} {ec._started(os.getpid())}")
    assert not ec._stale(claim)  # a live claimer
    claim.write_text(f"{os.getpid()} 1")  # the same pid, started at another time
    assert ec._stale(claim)
    claim.write_text(str(os.getpid()))  # a claim written before start times were recorded
    assert not ec._stale(claim)
