"""The voice pipeline's Prometheus metrics, on the app's registry.

``alice_voice_time_to_first_audio_seconds``: from the end of the user's speech (the
VAD's decision on a stream, the whole upload received for a file) to the first audio
chunk of the answer handed to the client. ``alice_voice_stage_seconds{stage}``: each
stage's time. ``alice_voice_real_time_factor{stage,engine}``: processing seconds per
second of audio (recognised, or spoken) — below 1 is faster than real time.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["VoiceMetrics"]

_TTFA_BUCKETS_S = (0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
_STAGE_BUCKETS_S = (0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
_RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)


class VoiceMetrics:
    """Counters and histograms of voice runs."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.ttfa_seconds = Histogram(
            "alice_voice_time_to_first_audio_seconds",
            "End of user speech to the first audio chunk of the answer sent.",
            buckets=_TTFA_BUCKETS_S,
            registry=r,
        )
        self.stage_seconds = Histogram(
            "alice_voice_stage_seconds",
            "Time per voice pipeline stage.",
            ["stage"],
            buckets=_STAGE_BUCKETS_S,
            registry=r,
        )
        self.rtf = Histogram(
            "alice_voice_real_time_factor",
            "Processing seconds per second of audio, per stage and engine.",
            ["stage", "engine"],
            buckets=_RTF_BUCKETS,
            registry=r,
        )
        self.runs = Counter("alice_voice_runs", "Voice pipeline runs.", ["outcome"], registry=r)
        self.engine_failures = Counter(
            "alice_voice_engine_failures",
            "Voice engine failures (the chain moved on to the next engine).",
            ["stage", "engine", "error_class"],
            registry=r,
        )

    def observe_run(
        self,
        *,
        outcome: str,
        ttfa_s: float | None,
        stage_s: dict[str, float],
        rtf: dict[str, tuple[str, float]],
    ) -> None:
        """Count one run (``complete``, ``error`` or ``cancelled``) and its timings."""
        self.runs.labels(outcome).inc()
        if ttfa_s is not None:
            self.ttfa_seconds.observe(ttfa_s)
        for stage, seconds in stage_s.items():
            self.stage_seconds.labels(str(stage)).observe(seconds)
        for stage, (engine, factor) in rtf.items():
            self.rtf.labels(str(stage), engine).observe(factor)

    def observe_stage(self, stage: str, seconds: float, engine: str, audio_s: float) -> None:
        """One stage used on its own (the REST audio endpoints, the CLI)."""
        self.stage_seconds.labels(str(stage)).observe(seconds)
        if audio_s > 0:
            self.rtf.labels(str(stage), engine).observe(seconds / audio_s)

    def engine_failed(self, stage: str, engine: str, error_class: str) -> None:
        """An engine of a chain failed."""
        self.engine_failures.labels(stage, engine, error_class).inc()
