"""One module per model vendor."""

from alice.llm.providers.llamacpp import LlamaCppProvider
from alice.llm.providers.ollama import OllamaProvider
from alice.llm.providers.openai import OpenAIProvider

__all__ = ["LlamaCppProvider", "OllamaProvider", "OpenAIProvider"]
