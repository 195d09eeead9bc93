"""The ``docs/performance.md`` section of `bench.voice` (registered in `bench.report_sections`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import _alice_settings, _header, _ms, _table, _targets

__all__ = ["voice_section"]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f} %"


_VOICE_TARGETS = (
    ("stream", "stream: Alice's `run-end` `ttfa_ms` (end of speech to first audio out)"),
    ("stream_client", "stream: client, last speech sample sent to first audio frame"),
    ("turn", "turn: `POST /api/voice/turn` `ttfa_ms`"),
    ("direct", "direct: the same engines without Alice (sum of the stages)"),
)
_VOICE_STAGES = (
    ("vad_end", "VAD: end of speech to its decision (stream only)"),
    ("stt", "Whisper transcribe (sv)"),
    ("translate", "Whisper translate (sv to en)"),
    ("chat_first_token", "model: to the first token"),
    ("first_sentence", "model: first token to first sentence"),
    ("tts_first", "piper: the first sentence"),
)


def _share(split: dict[str, Any], stage: str) -> str:
    item = split.get(stage)
    if not item:
        return "-"
    return f"{_ms(item['ms'].get('p50'))} ({_pct(item['share'])})"


def voice_section(path: Path, result: dict[str, Any]) -> str:
    """(j) Voice time to first audio against the same engines without Alice."""
    p, a = result["parameters"], result["analysis"]
    ttfa, ratio = a["ttfa_ms"], a["ratio_to_direct"]
    rows = [
        [
            label,
            ttfa[key].get("n", 0),
            _ms(ttfa[key].get("p50")),
            _ms(ttfa[key].get("p95")),
            _ms(ttfa[key].get("max")),
            ("baseline" if key == "direct" else f"{ratio[key]['p50']}x / {ratio[key]['p95']}x"),
        ]
        for key, label in _VOICE_TARGETS
    ]
    stages = a["stages"]
    stage_rows = [
        [label, _share(stages["stream_client"], key), _share(stages["direct"], key)]
        for key, label in _VOICE_STAGES
    ]
    server = stages["stream_server"]
    turn = stages["turn_server"]
    server_line = ", ".join(f"{k} {_pct(v['share'])}" for k, v in server.items())
    turn_line = ", ".join(f"{k} {_pct(v['share'])}" for k, v in turn.items())
    whisper = sum((server.get(k) or {}).get("share") or 0.0 for k in ("stt", "translate"))
    p95 = ttfa["stream"].get("p95")
    limit = result["targets_met"][0]["limit"]
    clip_rows = [
        [
            key,
            c["spoken"],
            f"{c['duration_s']:.1f}",
            _ms(c["stream_ttfa_ms"]),
            _ms(c["turn_ttfa_ms"]),
            _ms(c["direct_ttfa_ms"]),
            f"{c['transcript']} / {c['translation']}",
            c["first_sentence"],
            c["same_first_sentence"],
        ]
        for key, c in a["per_clip"].items()
    ]
    odd = a["anomalies"]
    return "\n\n".join(
        [
            "## (j) Voice: time to first audio against the engines direct (`bench/voice.py`)",
            _header(result, path),
            f"The clip set `{p['clip_set']}` ({len(p['clip_keys'])} Swedish questions spoken "
            f"by espeak-ng), {p['rounds']} round(s) after {p['warmup_clips']} uncounted clip(s), "
            "the three targets clip by clip in a rotating order, never at the same time. "
            "`stream`: one `/api/voice/stream` WebSocket per clip, the PCM16 in "
            f"{p['chunk_ms']} ms frames "
            + (
                "at the speed of speech (as a microphone sends it)"
                if p.get("realtime")
                else "as fast as the socket takes them"
            )
            + f", then {p['trailing_silence_s']:.0f} s of silence so that Alice's VAD ends "
            "the utterance; TTFA counts from the end of the speech (Alice: the start of the "
            "silence its VAD then confirmed; the client: its last speech sample sent). "
            "`turn`: the clip as a WAV upload (its TTFA includes the VAD pass "
            "over the upload). `direct` (the baseline): in the benchmark's process, "
            f"Alice's Whisper engine on the same folder (int8, beam {p['beam_size']}, "
            "temperature 0, language sv, the short window of decision 0015) called directly, "
            "transcribing and then translating the clip, llama-cpp-python on "
            "the same GGUF with the prompt Alice renders, streamed until Alice's sentence "
            "splitter hands out the first sentence (then dropped), and piper (the bundled "
            "voice, one thread as in Alice) speaking it; its TTFA is the sum. Alice runs the "
            "default voice chain (Whisper base, speech translation, piper). "
            f"{_alice_settings(p)} Load average (1, 5, 15 min) before the run "
            f"{p['load_average_before']}, after {p['load_average_after']}.",
            "TTFA in ms; ratio = the target's p50 / p95 over the baseline's:",
            _table(["target", "n", "p50", "p95", "max", "ratio to direct (p50 / p95)"], rows),
            "Where the time goes: each stage's p50 in ms and its share of the summed TTFA. "
            "For `stream` from the arrival times of Alice's events at the client "
            "(`vad-end`, `stt-end`, `translate-end`, the first `chat-delta`, `tts-start`, "
            "the first audio frame):",
            _table(["stage", "stream (client)", "direct"], stage_rows),
            f"By Alice's own stage times (`stages_ms` of `run-end`; the rest is `ttfa_ms` "
            f"minus them): stream {server_line}; turn {turn_line}.",
            f"**Target p95 {limit} ms: this machine reaches {_ms(p95)} ms** (stream; turn "
            f"{_ms(ttfa['turn'].get('p95'))} ms, the engines alone "
            f"{_ms(ttfa['direct'].get('p95'))} ms). Whisper (transcribe plus translate, one "
            "short-window encoding; on a stream started at the pause, so hidden in the "
            f"VAD's end silence) is {_pct(whisper)} of Alice's TTFA by its own stage times; "
            "the largest single stage is "
            f"`{a['dominant_stage']['stream_client']}` (client split) and "
            f"`{a['dominant_stage']['direct']}` for the baseline.",
            "Per clip (p50 over the rounds, ms); Alice's transcript / translation and first "
            "spoken sentence from the first round; same = rounds where the baseline's first "
            "sentence was Alice's:",
            _table(
                [
                    "clip",
                    "spoken",
                    "s",
                    "stream",
                    "turn",
                    "direct",
                    "heard / translated",
                    "first sentence",
                    "same",
                ],
                clip_rows,
            ),
            "Checks of the run: sessions with more than one run "
            f"{odd['stream_sessions_with_several_runs']}, with a barge-in "
            f"{odd['stream_runs_with_barge_in']}, with partial transcripts "
            f"{odd['stream_runs_with_partials']}; errors {len(odd['stream_errors'])}; TTS "
            f"engines {', '.join(odd['tts_engines'])}.",
            _targets(result["targets_met"], informational="informational"),
        ]
    )
