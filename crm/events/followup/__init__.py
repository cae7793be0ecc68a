"""After the event: the attendance report import (attendance_import reads it, attendance applies it), matching
registrants to structures and contacts (matching), the satisfaction survey (survey, survey_models), the
registrants' anonymisation (retention), the follow-up tasks (tasks), the participants' exports (exports);
their pages: routes (``event_followup``), matching_routes (``event_matching``), survey_routes (``survey_public``)."""
