"""The ``gen_ai.provider.name`` values of this plugin (no imports: the package's top module reads them)."""

from __future__ import annotations

__all__ = ["PROVIDER_AZURE", "PROVIDER_OPENAI"]

PROVIDER_OPENAI = "openai"
"""``gen_ai.provider.name`` of the OpenAI client (also against OpenAI-compatible servers)."""
PROVIDER_AZURE = "azure.ai.openai"
"""``gen_ai.provider.name`` of ``AzureOpenAI`` / ``AsyncAzureOpenAI`` (GenAI semantic conventions)."""
