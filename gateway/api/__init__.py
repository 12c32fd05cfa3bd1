"""The gateway's own HTTP endpoints, beside the OpenAI-compatible proxy.

``memory``: ``/v1/users/{user_id}/memories...``, to list, search, create, change and erase a
user's memories. ``importer``: ``gateway memory import``, memories in bulk from JSON lines.
"""
