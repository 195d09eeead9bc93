"""Which LLM providers a repository's Python talks to, and how strongly that is shown.

A provider is *wired* when source calls into its SDK (``AsyncOpenAI(...)``,
``ollama.chat(...)``, ``boto3.client("bedrock-runtime")``, a LangChain chat model) or
sends HTTP to its API path (``/v1/chat/completions``, ``/api/chat``) from a module that
uses an HTTP client; an SDK imported but never called is *code*; one only declared in a
manifest is a *dependency*. SDKs that speak the same API are one provider (the OpenAI
SDK and raw calls to ``/chat/completions`` are both "OpenAI-compatible").
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from readiness.checks._code import production, served_routes
from readiness.context import AuditContext
from readiness.model import STRENGTH_WEIGHT, Evidence, Strength
from readiness.pyindex import ModuleFacts

__all__ = ["FAMILIES", "Family", "ProviderFinding", "find_providers", "llm_modules"]


@dataclass(frozen=True, slots=True)
class Family:
    """One provider (an API), with the Python packages and HTTP paths that reach it."""

    key: str
    title: str
    #: Import prefixes of its SDKs (``openai``, ``langchain_openai``).
    imports: tuple[str, ...]
    #: Qualified call prefixes that use it (a call into one of these is wired).
    entry: tuple[str, ...]
    #: Distribution names (for declared dependencies).
    packages: tuple[str, ...] = ()
    #: Substrings of HTTP paths or URLs of its API.
    endpoints: tuple[str, ...] = ()

    @property
    def roots(self) -> frozenset[str]:
        """Top-level packages of its SDKs."""
        return frozenset(i.split(".", 1)[0] for i in self.imports)


FAMILIES: tuple[Family, ...] = (
    Family(
        "openai",
        "OpenAI-compatible API",
        ("openai", "langchain_openai"),
        ("openai", "langchain_openai"),
        ("openai", "langchain-openai"),
        ("/chat/completions", "/v1/completions"),
    ),
    Family(
        "anthropic",
        "Anthropic",
        ("anthropic", "langchain_anthropic"),
        ("anthropic", "langchain_anthropic"),
        ("anthropic", "langchain-anthropic"),
        ("/v1/messages",),
    ),
    Family(
        "ollama",
        "Ollama",
        ("ollama", "langchain_ollama"),
        (
            "ollama",
            "langchain_ollama",
            "langchain_community.chat_models.ChatOllama",
            "langchain_community.llms.Ollama",
        ),
        ("ollama", "langchain-ollama"),
        ("/api/chat", "/api/generate"),
    ),
    Family(
        "google",
        "Google Gemini / Vertex AI",
        ("google.generativeai", "google.genai", "vertexai", "langchain_google_genai"),
        ("google.generativeai", "google.genai", "vertexai", "langchain_google_genai"),
        ("google-generativeai", "google-genai", "google-cloud-aiplatform"),
        (":generateContent", ":streamGenerateContent"),
    ),
    Family(
        "mistral", "Mistral", ("mistralai", "langchain_mistralai"), ("mistralai",), ("mistralai",)
    ),
    Family("cohere", "Cohere", ("cohere", "langchain_cohere"), ("cohere",), ("cohere",)),
    Family("groq", "Groq", ("groq", "langchain_groq"), ("groq", "langchain_groq"), ("groq",)),
    Family("bedrock", "AWS Bedrock", ("langchain_aws",), ("langchain_aws",), ("langchain-aws",)),
    Family("litellm", "LiteLLM (multi-provider proxy)", ("litellm",), ("litellm",), ("litellm",)),
    Family(
        "llama-cpp", "llama.cpp (embedded)", ("llama_cpp",), ("llama_cpp",), ("llama-cpp-python",)
    ),
    Family("vllm", "vLLM (embedded)", ("vllm",), ("vllm",), ("vllm",)),
    Family(
        "transformers",
        "Hugging Face transformers (local)",
        ("transformers",),
        (
            "transformers.pipeline",
            "transformers.AutoModelForCausalLM",
            "transformers.AutoModelForSeq2SeqLM",
        ),
        ("transformers",),
    ),
    Family(
        "huggingface",
        "Hugging Face Inference",
        ("huggingface_hub",),
        ("huggingface_hub.InferenceClient", "huggingface_hub.AsyncInferenceClient"),
        (),
    ),
    Family("replicate", "Replicate", ("replicate",), ("replicate",), ("replicate",)),
    Family("together", "Together AI", ("together",), ("together",), ("together",)),
)

#: Modules that send HTTP requests (``urllib.parse`` only builds URLs: not a client).
_HTTP_CLIENTS = ("httpx", "requests", "aiohttp", "urllib.request", "urllib3")
# Compared with URL hosts, never bound to.
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "0.0.0.0", "::1"})  # noqa: S104  # nosec B104
_BEDROCK = frozenset({"bedrock-runtime", "bedrock"})
_HTTP_VERBS = frozenset(
    {"get", "post", "put", "stream", "request", "send", "build_request", "urlopen", "Request"}
)


_CACHE: weakref.WeakKeyDictionary[AuditContext, dict[str, ProviderFinding]] = (
    weakref.WeakKeyDictionary()
)


@dataclass(slots=True)
class ProviderFinding:
    """One provider's evidence."""

    family: Family
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def strength(self) -> Strength:
        """The strongest evidence."""
        return max(self.evidence, key=lambda e: STRENGTH_WEIGHT[e.strength]).strength

    @property
    def wired(self) -> bool:
        """Source calls it."""
        return any(e.strength == "wired" for e in self.evidence)


_ENDPOINT = re.compile("|".join(re.escape(e) for f in FAMILIES for e in f.endpoints))


def _sent_strings(module: ModuleFacts) -> list[tuple[str, int]]:
    """Strings naming an LLM API path that are sent somewhere.

    An argument of an HTTP-style call (``client.stream("POST", "/chat/completions")``),
    or any string in a module that imports an HTTP client. A path the module serves (its
    own route) is not a call to a provider.
    """
    texts = [(a, c.line) for c in module.calls if c.tail in _HTTP_VERBS for a in c.args if a]
    if any(i.module.startswith(_HTTP_CLIENTS) for i in module.imports):
        texts.extend(module.strings)
        texts.extend(module.tokens)
    served = {r.line for r in module.routes}
    return [(t, line) for t, line in texts if line not in served and _ENDPOINT.search(t)]


def _own_route(text: str, own: set[str]) -> bool:
    """Whether ``text`` is (the tail of) a path this service serves itself.

    A bare path, or a URL on this machine (a URL on another host is someone else's API).
    """
    if text.startswith(("http://", "https://")):
        url = urlsplit(text)
        if url.hostname not in _LOCAL_HOSTS:
            return False
        text = url.path
    text = text.rstrip("/")
    return text.startswith("/") and any(p == text or p.endswith(text) for p in own)


def _named_for(ctx: AuditContext, module: ModuleFacts, line: int, family: Family) -> bool:
    """Whether the module or the function around ``line`` is named for ``family``.

    The tie-breaker when a service calls a path it also serves: an Ollama-compatible
    server with an Ollama backend, versus a CLI that calls the server's own ``/api/chat``.
    """
    owner = ctx.py.enclosing(module, line)
    names = [module.path, owner.name if owner else "", (owner.parent or "") if owner else ""]
    keys = {family.key, *(i.split(".")[0] for i in family.imports)}
    return any(key in name.lower() for name in names for key in keys)


def find_providers(ctx: AuditContext) -> dict[str, ProviderFinding]:
    """Every provider with evidence, by family key (computed once per audit)."""
    cached = _CACHE.get(ctx)
    if cached is None:
        cached = _find_providers(ctx)
        _CACHE[ctx] = cached  # a race computes the same answer twice, harmlessly
    return cached


def _find_providers(ctx: AuditContext) -> dict[str, ProviderFinding]:
    found: dict[str, ProviderFinding] = {}

    def add(family: Family, evidence: Evidence) -> None:
        found.setdefault(family.key, ProviderFinding(family)).evidence.append(evidence)

    own = {s.path.rstrip("/") for s in served_routes(ctx) if s.path.startswith("/")}

    for module in production(ctx).modules:
        roots = {i.module.split(".", 1)[0] for i in module.imports}
        sent = _sent_strings(module)
        for family in FAMILIES:
            imported = (
                [
                    i
                    for i in module.imports
                    if i.module.split(".", 1)[0] in roots
                    and any(i.module == p or i.module.startswith(p + ".") for p in family.imports)
                ]
                if roots & family.roots
                else []
            )
            called = False
            if imported:
                for call in module.calls:
                    qualified = ctx.py.qualify(module, call.name)
                    if any(qualified == p or qualified.startswith(p + ".") for p in family.entry):
                        note = f"calls {qualified}"
                        add(family, Evidence(module.path, call.line, "wired", note))
                        called = True
                        break
                if not called:
                    note = f"imports {imported[0].module} but never calls it"
                    add(family, Evidence(module.path, imported[0].line, "code", note))
            for text, line in sent:
                if not any(e in text for e in family.endpoints):
                    continue
                if _own_route(text, own) and not _named_for(ctx, module, line, family):
                    continue  # a client of this service's own route, not of the provider
                note = f"HTTP call to the {family.title} path {text}"
                add(family, Evidence(module.path, line, "wired", note))
                break
        if any(i.module == "boto3" for i in module.imports):
            for call in module.calls:
                if call.tail == "client" and call.args and call.args[0] in _BEDROCK:
                    bedrock = next(f for f in FAMILIES if f.key == "bedrock")
                    note = f'boto3 client("{call.args[0]}")'
                    add(bedrock, Evidence(module.path, call.line, "wired", note))
                    break
    for family in FAMILIES:
        if family.key not in found:
            for evidence in ctx.deps.evidence(*family.packages):
                add(family, evidence)
    return found


def llm_modules(ctx: AuditContext) -> frozenset[str]:
    """Paths of source modules that talk to an LLM (wired or imported)."""
    return frozenset(
        e.path
        for finding in find_providers(ctx).values()
        for e in finding.evidence
        if e.strength in ("wired", "code")
    )
