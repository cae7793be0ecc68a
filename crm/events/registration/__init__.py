"""Registrations: register (registrations), capacity and its locks (capacity), the waiting-list promotion
(waiting_list), personal links (links), attendance on the day (checkin), the emails (emails, reminders),
the public page and cancellation link (routes, blueprint ``public_events``), the check-in screen
(checkin_routes, on the ``events`` blueprint)."""
