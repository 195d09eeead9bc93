"""Alice's benchmarks: ``python -m bench`` (or ``make bench``).

Every figure is measured side by side with its baseline in the same run, the targets
interleaved in rounds, so the noise of a shared machine hits both alike. Results go to
``bench/results/<bench>-<UTC timestamp>.json``; ``docs/performance.md`` is regenerated
from the newest result of each benchmark.

Benchmarks:
    ttft: the embedded model's streaming time-to-first-token and decode rate through
        Alice's HTTP API against llama-cpp-python called in-process.
    gateway: Alice's OpenAI-compatible endpoint in front of a fast fake upstream,
        against the upstream itself and LiteLLM's proxy.
"""
