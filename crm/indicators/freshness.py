"""How fresh the indicators are: the age of the oldest outbox event not processed yet."""

from __future__ import annotations

from dataclasses import dataclass

from crm.platform.formatting import format_number
from crm.platform.outbox_status import outbox_status


@dataclass(frozen=True)
class Freshness:
    pending: int
    age_seconds: float
    dead: int

    @property
    def text(self) -> str:
        """ "à jour" when nothing waits, else "mis à jour il y a 2 s" (the oldest waiting change)."""
        if not self.pending:
            return "à jour"
        seconds = int(self.age_seconds)
        if seconds < 60:
            ago = f"{seconds} s"
        elif seconds < 3600:
            ago = f"{seconds // 60} min"
        elif seconds < 86400:
            ago = f"{seconds // 3600} h"
        else:
            ago = f"{format_number(seconds // 86400)} j"
        return f"mis à jour il y a {ago}"

    @property
    def late(self) -> bool:
        return self.age_seconds > 60


def freshness() -> Freshness:
    status = outbox_status()
    return Freshness(pending=status.pending, age_seconds=status.age_seconds, dead=status.dead)
