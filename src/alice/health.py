"""Component health, as ``/ready`` reports it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ComponentHealth", "HealthState"]

HealthState = Literal["healthy", "degraded", "unhealthy"]


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    """How a component is doing."""

    state: HealthState
    detail: str = ""
