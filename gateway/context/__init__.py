"""The memory stage of a chat completion: what the user's memories add to the prompt.

In the order a request meets them: ``query`` (what to search for) -> ``retrieval`` (the user's
memories that matter, within a deadline) -> ``organization`` (the tenant's own context) ->
``budget`` (how many tokens they get, and which fit) -> ``injection`` (the block into the
messages). ``stage`` strings them together behind the proxy's ``ContextStage``; ``service`` builds
the store, the retriever and the stage from the config.
"""
