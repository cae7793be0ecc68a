"""The opportunity stage rules, in one place.

identifiée -> qualifiée -> proposée -> gagnée, or perdue / abandonnée with a reason.
- From an open stage, any other open stage may be chosen (forward, or back to correct
  a card moved too far); "gagnée" may be reached from any open stage (an inbound
  request can be won at once).
- "perdue" and "abandonnée" need a reason from the editable list.
- A won, lost or abandoned opportunity is closed: it does not move any more.
"""

from __future__ import annotations

from crm.pipeline.models import CLOSED_STAGES, OPEN_STAGES, STAGES

NEEDS_REASON = ("perdue", "abandonnee")


def transition_error(from_stage: str, to_stage: str, reason_id: int | None) -> str | None:
    """French reason why the move is refused, or None when it is allowed."""
    if to_stage not in STAGES:
        return f"Étape inconnue : {to_stage}. Étapes possibles : {', '.join(STAGES)}."
    if from_stage in CLOSED_STAGES:
        return f"Cette opportunité est close ({STAGES[from_stage].lower()}) : son étape ne peut plus changer."
    if from_stage == to_stage:
        return f"L'opportunité est déjà à l'étape « {STAGES[to_stage]} »."
    if to_stage in NEEDS_REASON and not reason_id:
        return f"Indiquez la raison pour passer l'opportunité en « {STAGES[to_stage]} »."
    if from_stage not in OPEN_STAGES:
        return f"Étape de départ inconnue : {from_stage}."
    return None
