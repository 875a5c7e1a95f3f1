"""The model providers: one module each (its client and its `PROVIDER` spec), and one row here.

The order is the one people see (`Providers: ollama, openai, …` in a hint).
"""

from __future__ import annotations

from equitr.models import anthropic, local, ollama, openai
from equitr.models.provider import ProviderSpec

_ROWS = (ollama.PROVIDER, openai.PROVIDER, anthropic.PROVIDER, openai.COMPATIBLE, local.PROVIDER)
SPECS: dict[str, ProviderSpec] = {spec.name: spec for spec in _ROWS}
