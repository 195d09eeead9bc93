"""Faults and drills, injected into a running Alice at the plan's moments.

- ``brownout``: ``POST /api/admin/guardian/drill {"action": "brownout"}``; Alice ends
  the drill itself after ``ALICE_GUARDIAN__DRILL_S`` (set to the window), and the
  harness sends ``clear`` at the window's end as well;
- ``killswitch``: the same endpoint with ``killswitch``: every backend stopped (the
  embedded model's worker is killed and a fresh one started);
- ``upstream``: SIGKILL of the model worker process, Alice's upstream in the default
  deployment (Alice notices the dead worker and starts a new one);
- ``postgres``: ``pg_ctl restart -m immediate`` (or ``fast``) of the database.

Each injection returns a `FaultEvent` with the wall-clock time it took effect: the
recovery clock starts there.
"""

from __future__ import annotations

import signal
import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx
import psutil  # type: ignore[import-untyped]  # psutil ships no type hints

from loadtest.alice import AliceServer
from loadtest.plan import FaultPlan, Plan
from loadtest.postgres import ThrowawayPostgres

__all__ = ["FaultError", "FaultEvent", "FaultInjector"]

DRILL_PATH = "/api/admin/guardian/drill"


class FaultError(RuntimeError):
    """A fault could not be injected (the drill endpoint refused, no worker to kill)."""


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """An injected fault.

    Attributes:
        kind: brownout, killswitch, upstream or postgres.
        planned_s: the plan's offset from the first arrival.
        at: when it took effect (epoch seconds).
        ended_at: brownout: when the drill was cleared; postgres: when ``pg_ctl``
            reported the server up again; else None.
        detail: what was done, in words.
    """

    kind: str
    planned_s: float
    at: float
    ended_at: float | None
    detail: str

    def as_dict(self, t0: float) -> dict[str, Any]:
        """For report.json, with times relative to the first arrival."""
        data = asdict(self)
        data["at_s"] = round(self.at - t0, 3)
        data["ended_at_s"] = round(self.ended_at - t0, 3) if self.ended_at else None
        return data


class FaultInjector:
    """Injects a plan's faults into one Alice (and its PostgreSQL, for that drill)."""

    def __init__(self, alice: AliceServer, plan: Plan, postgres: ThrowawayPostgres | None):
        self._alice = alice
        self._plan = plan
        self._postgres = postgres

    def _drill(self, action: str) -> float:
        at = time.time()
        try:
            response = self._alice.post_admin(DRILL_PATH, {"action": action})
        except httpx.HTTPError as exc:
            raise FaultError(f"drill {action}: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise FaultError(f"drill {action}: HTTP {response.status_code} {response.text[:200]}")
        return at

    def begin(self, fault: FaultPlan) -> FaultEvent:
        """Inject ``fault`` now (a brownout's end comes from `end_brownout`).

        Raises:
            FaultError: it could not be injected.
        """
        if fault.kind in ("brownout", "killswitch"):
            at = self._drill(fault.kind)
            return FaultEvent(fault.kind, fault.at_s, at, None, f"drill {fault.kind}")
        if fault.kind == "upstream":
            return self._kill_worker(fault)
        return self._restart_postgres(fault)

    def end_brownout(self, event: FaultEvent) -> FaultEvent:
        """Clear a brownout drill; the event with its end time."""
        ended = self._drill("clear")
        return FaultEvent(event.kind, event.planned_s, event.at, ended, event.detail)

    def _kill_worker(self, fault: FaultPlan) -> FaultEvent:
        workers = self._alice.sample().worker_pids
        if not workers:
            raise FaultError("upstream: Alice has no model worker process to kill")
        at = time.time()
        for pid in workers:
            try:
                psutil.Process(pid).send_signal(signal.SIGKILL)
            except psutil.Error as exc:
                raise FaultError(f"upstream: cannot kill worker {pid}: {exc}") from exc
        pids = ", ".join(str(p) for p in workers)
        return FaultEvent("upstream", fault.at_s, at, None, f"SIGKILL model worker pid {pids}")

    def _restart_postgres(self, fault: FaultPlan) -> FaultEvent:
        if self._postgres is None:
            raise FaultError("postgres: this run has no throwaway PostgreSQL")
        restart = self._postgres.restart(self._plan.pg_restart_mode)
        return FaultEvent(
            "postgres",
            fault.at_s,
            restart.issued_at,
            restart.returned_at,
            f"pg_ctl restart -m {restart.mode} (up again after "
            f"{restart.returned_at - restart.issued_at:.1f} s)",
        )
