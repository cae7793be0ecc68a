"""The indicators' read model: facts and cells derived from the records (``models``, ``derivations``), kept
in step with the outbox events (``upkeep``, run by the dispatcher as a registered consumer), derived whole
(``rebuild``, with its ``indexes``) and compared with a recomputation (``check``). The indicators'
definitions they count are in :mod:`crm.indicators.definitions`."""
