"""Learning: what the gateway remembers from finished exchanges, in the background.

In the order an exchange meets them: ``handoff`` (journal it, on the request path) ->
``journal`` (SQLite, leases) -> ``worker`` (claim, retry, drain) -> ``pipeline`` (one job):
``transcript`` -> ``extractor`` (the model call; or the user's own turns) -> ``minimise``
(blocked categories, ``scrub``) -> ``consolidate`` (``similarity``: add, reinforce, supersede)
and ``personalize`` (the user's profile; ``summarize`` writes its summary in ``facts`` mode)
under the ``pacing`` that keeps it out of chat's way. ``service`` builds it all.
"""
