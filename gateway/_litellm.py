"""The one place litellm is imported.

Importing litellm costs seconds and, by default, tries to download a model-price map. Everything
that needs litellm calls ``load_litellm()`` at the moment it first needs it, so the serving path of
a gateway that only forwards OpenAI-wire traffic never pays for it.
"""

from __future__ import annotations

import logging
from functools import cache
from types import ModuleType

from gateway.config import default_environment


@cache
def load_litellm() -> ModuleType:
    # litellm reads this flag at import time; without it the import blocks on a network fetch
    # that fails on offline machines. An operator who wants the live map can still set it to False.
    default_environment("LITELLM_LOCAL_MODEL_COST_MAP", lambda: "True")
    import litellm

    litellm.suppress_debug_info = True
    # Its INFO lines name the model on every call; our own metrics already say that.
    logging.getLogger("LiteLLM").setLevel(logging.WARNING)
    litellm.drop_params = False
    return litellm
