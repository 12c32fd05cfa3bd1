"""The path of one chat completion, one module per stage, in the order a request meets them:

``auth`` (which tenant) -> ``request`` (read and check the body) -> ``identity`` (which user, which
memory mode) -> ``gateway.context`` (retrieval, budget, injection) ->
``gateway.upstream.forward`` (retries and fallbacks over the upstreams) -> ``stream`` (pass the
answer through, tapping what went by) -> ``gateway.learning.handoff`` (journal the exchange for
extraction). ``chat`` strings them together; the types they share are in ``gateway.types``.
"""
