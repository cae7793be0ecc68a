"""Events (TOP e-santé days, webinars...): the event itself here, its registrations and its follow-up below.

- here: the models (shared by both halves), the event's life (services: draft, publish, change, close,
  cancel, duplicate), the back office (blueprint, routes, forms, queries), .ics and calendar feeds, the CLI;
- ``registration/``: registering, capacity, the waiting list, personal links, check-in, the emails, the
  public pages;
- ``followup/``: after the event: attendance import, matching registrants to the CRM, the survey,
  retention (anonymisation), follow-up tasks, participant exports.

The pages that show what an event produced read crm.indicators, above this package: crm.pages.event_results.
"""
