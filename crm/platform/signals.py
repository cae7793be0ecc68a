"""Signals a lower domain sends, in the caller's transaction, so a higher one can follow without being imported.

The outbox carries what may happen after the commit; a signal carries what must happen before it,
where a page or an indicator read right after the commit would otherwise see the two out of step.
Each signal says who sends it and with which keyword arguments.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: Sent by structures when structures change department (by hand or through a FINESS import),
#: after the change is flushed and before the commit. Keyword argument: ``structure_ids`` (list of int).
#: The pipeline connects to it: open and closed opportunities and projects carry their structure's
#: department, which the board, the filters and the indicators read.
structure_department_changed = _signals.signal("structure-department-changed")

#: Sent by structures (a refused FINESS import showing what it would close), no keyword argument.
#: Each receiver returns ``{name: {structure_id: count}}``, the live work that hangs on structures:
#: the pipeline answers with its open opportunities and its running or suspended projects.
structures_live_work = _signals.signal("structures-live-work")
