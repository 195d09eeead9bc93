"""Voice: time to first audio (TTFA) through Alice versus the same engines run directly.

Target (the voice issue): TTFA p95 < 300 ms on the clip set; record what this machine
reaches and what dominates it.

The clip set is ``tests/alice/voice/clips`` (``clips.json``: ten Swedish questions
spoken by espeak-ng). Three targets, interleaved clip by clip in a rotating order, never
concurrently (all of them want both cores):

- ``stream``: ``alice serve`` (the embedded model, the default voice chain: Whisper base
  int8 with beam 5, Whisper's own translation, piper) and one WebSocket
  ``/api/voice/stream`` per clip: the clip's PCM16 in 100 ms frames sent as fast as the
  socket takes them, then 1 s of silence, so Alice's VAD ends the utterance. Alice's
  TTFA is the ``ttfa_ms`` of its ``run-end`` event: from its VAD's end-of-speech
  decision to the first audio chunk handed to the socket. The client also times the
  arrival of each event: ``vad-end`` to the first binary audio frame is the client's
  TTFA, and the events between split it into stages (STT, translation, the model's first
  token, its first sentence, the first sentence spoken).
- ``turn``: ``POST /api/voice/turn`` with the clip as a WAV upload; the JSON's
  ``ttfa_ms`` (from the start of its VAD pass over the upload to the first audio).
- ``direct`` (the baseline): the same engines in this process, without Alice, one after
  the other: faster-whisper ``WhisperModel`` on the same folder (int8, beam 5,
  temperature 0, ``condition_on_previous_text=False``, language ``sv``), transcribe and
  then ``task="translate"``; llama-cpp-python on the same GGUF with the prompt Alice's
  provider renders (`FewShotPrompt` over the system prompt and the English text, as
  `bench.ttft.DirectModel` does) and the worker's sampling settings, streamed until
  Alice's own `SentenceSplitter` hands out the first sentence (the whole answer when it
  has none), then the generation is dropped; piper (the bundled voice, one onnxruntime
  thread as in Alice) speaks that sentence. Its TTFA is the sum of the four.

Alice runs with its response cache off (the clips repeat every round), the Guardian's
sampling off (its brownout would swap piper for espeak-ng mid-run) and the default
temperature 0, so Alice and the baseline answer the same English text with the same
words; ``--alice-env`` overrides these. The baseline does not wait for the rest of the
answer, while Alice keeps writing it as the first sentence is spoken: both cores are
shared by the model and piper there, which is part of what the comparison shows.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import orjson

from bench.alice_server import ALICE_AUTH_HEADERS, alice_client, embedded_alice, env_pairs
from bench.machine import REPO_ROOT
from bench.stats import summarize
from bench.ttft import DirectModel, TtftParams

__all__ = ["CLIPS_DIR", "Clip", "VoiceParams", "load_clips", "run_voice"]

TARGETS = {"ttfa_p95_ms": 300.0}
CLIPS_DIR = REPO_ROOT / "tests" / "alice" / "voice" / "clips"
ALICE_DEFAULT_ENV: tuple[str, ...] = (
    "ALICE_CACHE=off",
    "ALICE_GUARDIAN_ENABLED=false",
    "ALICE_DEFAULT_TEMPERATURE=0",
)
TARGET_NAMES = ("stream", "turn", "direct")
_VOICE_PACKAGES = ("faster-whisper", "ctranslate2", "piper-tts", "onnxruntime", "websockets")
# Alice's defaults (Settings.default_max_tokens, the worker's sampling in
# `alice.llm.providers._llamacpp_worker`), so the baseline writes what Alice writes.
_SAMPLING = {"top_p": 1.0, "top_k": 40, "min_p": 0.05, "repeat_penalty": 1.0}


@dataclass(frozen=True)
class VoiceParams:
    """Rounds over the clip set and the settings both sides share."""

    rounds: int = 3
    #: How many clips of the set (0: all).
    clips: int = 0
    #: Uncounted clips at the start (loads every engine on both sides).
    warmup_clips: int = 2
    #: Idle time before each measured turn.
    settle_s: float = 0.3
    chunk_ms: int = 100
    trailing_silence_s: float = 1.0
    #: Send audio at the speed of speech, as a microphone does (False: as fast as the
    #: socket takes it, which leaves the VAD's end-of-speech silence no time to overlap).
    realtime: bool = True
    beam_size: int = 5
    max_tokens: int = 256
    temperature: float = 0.0
    timeout_s: float = 180.0
    alice_env: tuple[str, ...] = ()
    quick: bool = False


@dataclass(frozen=True)
class Clip:
    """One clip: its WAV, its 16 kHz PCM16 and samples, and the text spoken."""

    key: str
    text: str
    wav: bytes
    pcm16: bytes
    samples: Any  # float32 numpy array at 16 kHz
    duration_s: float
    #: Where the speech ends in the clip (Silero VAD, no padding): the clips carry
    #: espeak-ng's and the generator's trailing silence, about 0.9 s.
    speech_end_s: float


def load_clips(folder: Path = CLIPS_DIR, count: int = 0) -> list[Clip]:
    """The clips listed in ``folder/clips.json`` (the first ``count``; 0: all)."""
    from alice.voice.audio import decode_audio
    from alice.voice.vad import SileroVad, VadConfig, speech_spans

    vad = SileroVad()
    listed = json.loads((folder / "clips.json").read_text())["clips"]
    clips = []
    for item in listed[: count or None]:
        wav = (folder / item["file"]).read_bytes()
        audio = decode_audio(wav, max_seconds=60.0)
        clips.append(
            Clip(
                key=Path(item["file"]).stem,
                text=item["text"],
                wav=wav,
                pcm16=audio.pcm16(),
                samples=audio.samples,
                duration_s=round(audio.duration_s, 3),
                speech_end_s=speech_spans(audio, vad, VadConfig(pad_s=0.0))[-1].end_s,
            )
        )
    return clips


def _ms(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round((end - start) * 1000, 1)


# --- Alice over the WebSocket -----------------------------------------------------------


class StreamClient:
    """One ``/api/voice/stream`` conversation per clip, every frame timed on arrival."""

    def __init__(self, base_url: str, params: VoiceParams) -> None:
        self._url = base_url.replace("http://", "ws://", 1) + "/api/voice/stream?sample_rate=16000"
        self._params = params

    def turn(self, clip: Clip) -> dict[str, Any]:
        """Send the clip and a second of silence; wait for the run that answers it.

        Raises:
            RuntimeError: no answered run within ``timeout_s``.
        """
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.client import connect

        frames: list[tuple[float, str | bytes]] = []
        answered = threading.Event()
        step = 16_000 * 2 * self._params.chunk_ms // 1000  # bytes of PCM16 per chunk
        audio = clip.pcm16 + bytes(int(16_000 * self._params.trailing_silence_s) * 2)
        with connect(
            self._url,
            additional_headers=ALICE_AUTH_HEADERS,
            compression=None,
            proxy=None,
            max_size=None,
        ) as ws:

            def receive() -> None:
                with contextlib.suppress(ConnectionClosed):
                    for message in ws:
                        frames.append((time.perf_counter(), message))
                        if isinstance(message, str) and _answered_run_end(message):
                            answered.set()

            receiver = threading.Thread(target=receive, name="voice-bench-ws", daemon=True)
            receiver.start()
            sent_at = time.perf_counter()
            for index, first in enumerate(range(0, len(audio), step)):
                if self._params.realtime:
                    delay = sent_at + index * self._params.chunk_ms / 1000 - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                ws.send(audio[first : first + step])
            sent_s = time.perf_counter() - sent_at
            # When the last sample of speech went out: the user stopped speaking there.
            speech_end = sent_at + (clip.speech_end_s if self._params.realtime else sent_s)
            if not answered.wait(self._params.timeout_s):
                raise RuntimeError(f"{clip.key}: no answered run in {self._params.timeout_s} s")
            ws.send(orjson.dumps({"type": "close"}).decode())
            receiver.join(timeout=30)
        record = _stream_record(frames, speech_end)
        record["send_ms"] = round(sent_s * 1000, 1)
        return record


def _answered_run_end(message: str) -> bool:
    frame = orjson.loads(message)
    if frame.get("type") != "run-end":
        return False
    data = frame.get("data") or {}
    return data.get("ttfa_ms") is not None or data.get("outcome") != "complete"


def _stream_record(frames: list[tuple[float, str | bytes]], speech_end: float) -> dict[str, Any]:
    """The last run's timeline from the frames received (earlier runs only counted)."""
    events: list[tuple[float, str, dict[str, Any]]] = []
    first_audio: list[float] = []
    for arrived, message in frames:
        if isinstance(message, bytes):
            first_audio.append(arrived)
            continue
        frame = orjson.loads(message)
        events.append((arrived, frame["type"], frame.get("data") or {}))
    starts = [i for i, (_, kind, _) in enumerate(events) if kind == "run-start"]
    run = events[starts[-1] :] if starts else events
    begun = run[0][0] if run else 0.0
    at: dict[str, float] = {}
    data: dict[str, dict[str, Any]] = {}
    for when, kind, payload in run:
        if kind not in at:  # the first of each kind (chat-delta, tts-audio repeat)
            at[kind], data[kind] = when, payload
    audio_at = next((t for t in first_audio if t >= begun), None)
    end = data.get("run-end", {})
    stages = end.get("stages_ms") or {}
    vad_end = at.get("vad-end")
    return {
        "ttfa_ms": end.get("ttfa_ms"),
        "stages_ms": stages,
        "client_ttfa_ms": _ms(speech_end, audio_at),
        "client_vad_end_to_audio_ms": _ms(vad_end, audio_at),
        "client_ms": {
            "vad_end": _ms(speech_end, vad_end),
            "stt": _ms(vad_end, at.get("stt-end")),
            "translate": _ms(at.get("stt-end"), at.get("translate-end")),
            "chat_first_token": _ms(at.get("translate-end"), at.get("chat-delta")),
            "first_sentence": _ms(at.get("chat-delta"), at.get("tts-start")),
            "tts_first": _ms(at.get("tts-start"), audio_at),
        },
        "outcome": end.get("outcome"),
        "error": data.get("error"),
        "runs": len(starts),
        "barge_ins": sum(1 for _, kind, _ in events if kind == "barge-in"),
        "partials": sum(1 for _, kind, _ in run if kind == "stt-partial"),
        "transcript": data.get("stt-end", {}).get("text"),
        "translation": data.get("translate-end", {}).get("text"),
        "first_sentence": data.get("tts-audio", {}).get("text"),
        "tts_engine": data.get("tts-audio", {}).get("engine"),
        "stt_audio_s": data.get("stt-end", {}).get("audio_s"),
    }


# --- Alice over POST /api/voice/turn ----------------------------------------------------


class TurnClient:
    """``POST /api/voice/turn`` with the clip as a WAV."""

    def __init__(self, base_url: str) -> None:
        self._client = alice_client(base_url)

    def turn(self, clip: Clip) -> dict[str, Any]:
        """One turn; Alice's own TTFA and stage times from the JSON.

        Raises:
            RuntimeError: Alice answered with an error.
        """
        started = time.perf_counter()
        response = self._client.post(
            "/api/voice/turn", files={"file": (f"{clip.key}.wav", clip.wav, "audio/wav")}
        )
        wall = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"{clip.key}: Alice answered {response.status_code}")
        body = response.json()
        return {
            "ttfa_ms": body.get("ttfa_ms"),
            "stages_ms": body.get("stages_ms") or {},
            "wall_ms": round(wall * 1000, 1),
            "transcript": body.get("transcript"),
            "translation": body.get("translation"),
        }

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


# --- the baseline: the engines in this process -----------------------------------------


class _DirectLlm(DirectModel):
    """`bench.ttft.DirectModel`, streamed until the answer's first sentence."""

    def first_sentence(self, question: str) -> tuple[float, float, str]:
        """(ms to the first text, ms to the first sentence, the sentence)."""
        from alice.voice.sentences import SentenceSplitter

        splitter = SentenceSplitter()
        prompt = self.render(question)
        started = time.perf_counter()
        first: float | None = None
        sentence: str | None = None
        text = ""
        stream = self._llm.create_completion(
            prompt,
            stream=True,
            temperature=self._params.temperature,
            max_tokens=self._params.max_tokens,
            stop=list(self._prompt.stop),
            **_SAMPLING,
        )
        try:
            for chunk in stream:
                piece = chunk["choices"][0]["text"]
                if not text:
                    piece = piece.lstrip()  # as Alice's worker: the label's space goes
                if not piece:
                    continue
                if first is None:
                    first = time.perf_counter()
                text += piece
                done = splitter.feed(piece)
                if done:
                    sentence = done[0]
                    break
        finally:
            stream.close()  # the rest of the answer is not generated
        if sentence is None:
            sentence = splitter.flush() or text.strip()
        ended = time.perf_counter()
        first_ms = (first or ended) - started
        return first_ms * 1000, (ended - started) * 1000, sentence


class DirectEngines:
    """faster-whisper, llama-cpp-python and piper, as Alice configures them."""

    def __init__(self, whisper_dir: Path, model_path: Path, system_prompt: str, p: VoiceParams):
        import onnxruntime
        from faster_whisper import WhisperModel
        from piper import PiperConfig, PiperVoice

        from alice.voice.tts.piper import bundled_piper_voice

        self._params = p
        from alice.voice.audio import SPEECH_RATE, Audio
        from alice.voice.stt.whisper import WhisperConfig, WhisperSpeechToText

        # Alice's own Whisper engine, called directly on this thread: the same short
        # window and shared encoding (decision 0015) as inside Alice, without the server,
        # the pipeline or the event loop. cpu_threads=0 as ALICE_VOICE_STT_THREADS=0.
        self._stt = WhisperSpeechToText(
            WhisperConfig(model_path=whisper_dir, data_dir=whisper_dir, beam_size=p.beam_size)
        )
        self._stt._model = self._stt._load()
        self._audio = lambda samples: Audio(samples, SPEECH_RATE)
        del WhisperModel
        voice = bundled_piper_voice()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # PiperTextToSpeech's default
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._piper = PiperVoice(
            config=PiperConfig.from_dict(json.loads(Path(f"{voice}.json").read_text())),
            session=onnxruntime.InferenceSession(
                str(voice), sess_options=options, providers=["CPUExecutionProvider"]
            ),
        )
        self._llm = _DirectLlm(
            model_path,
            system_prompt,
            TtftParams(max_tokens=p.max_tokens, temperature=p.temperature, n_ctx=4096),
        )

    def _whisper_run(
        self, audio: Any, task: Literal["transcribe", "translate"]
    ) -> tuple[float, str]:
        started = time.perf_counter()
        text = self._stt._run(audio, "sv", task, None).text
        return (time.perf_counter() - started) * 1000, text

    def turn(self, clip: Clip) -> dict[str, Any]:
        """The four stages one after the other; their sum is the baseline's TTFA."""
        import numpy as np

        audio = self._audio(clip.samples)
        stt_ms, transcript = self._whisper_run(audio, "transcribe")
        translate_ms, english = self._whisper_run(audio, "translate")
        first_token_ms, llm_ms, sentence = self._llm.first_sentence(english)
        started = time.perf_counter()
        chunks = list(self._piper.synthesize(sentence))
        samples = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        tts_ms = (time.perf_counter() - started) * 1000
        stages = {
            "stt": round(stt_ms, 1),
            "translate": round(translate_ms, 1),
            "chat_first_token": round(first_token_ms, 1),
            "first_sentence": round(llm_ms - first_token_ms, 1),
            "tts_first": round(tts_ms, 1),
        }
        return {
            "ttfa_ms": round(stt_ms + translate_ms + llm_ms + tts_ms, 1),
            "stages_ms": stages,
            "transcript": transcript,
            "translation": english,
            "first_sentence": sentence,
            "audio_s": round(len(pcm) / 2 / self._piper.config.sample_rate, 3),
        }

    @property
    def n_threads(self) -> int:
        """llama.cpp's thread count."""
        return self._llm.n_threads

    def close(self) -> None:
        """Free the model."""
        self._llm.close()


# --- the run ----------------------------------------------------------------------------


def _measure(
    clips: list[Clip],
    runners: dict[str, Any],
    params: VoiceParams,
    log: Any,
) -> list[dict[str, Any]]:
    for clip in clips[: params.warmup_clips]:
        for name in TARGET_NAMES:
            runners[name](clip)
    log(f"  warm-up: {params.warmup_clips} clip(s) through each target")
    records: list[dict[str, Any]] = []
    for round_no in range(params.rounds):
        for index, clip in enumerate(clips):
            shift = (round_no + index) % len(TARGET_NAMES)
            order = TARGET_NAMES[shift:] + TARGET_NAMES[:shift]
            record: dict[str, Any] = {"round": round_no, "clip": clip.key, "order": list(order)}
            for name in order:
                time.sleep(params.settle_s)
                record[name] = runners[name](clip)
            records.append(record)
            log(
                f"  round {round_no + 1}/{params.rounds} {clip.key}: TTFA stream "
                f"{record['stream']['ttfa_ms']} (client {record['stream']['client_ttfa_ms']}), "
                f"turn {record['turn']['ttfa_ms']}, direct {record['direct']['ttfa_ms']} ms"
            )
    return records


def _values(records: list[dict[str, Any]], target: str, key: str) -> list[float]:
    return [r[target][key] for r in records if r[target].get(key) is not None]


def _stage_split(rows: list[dict[str, float | None]], total: list[float]) -> dict[str, Any]:
    """Each stage's times and its share of the summed TTFA."""
    whole = sum(total)
    split: dict[str, Any] = {}
    for stage in rows[0] if rows else {}:
        values = [float(v) for row in rows if (v := row.get(stage)) is not None]
        split[stage] = {
            "ms": summarize(values),
            "share": round(sum(values) / whole, 4) if whole > 0 else None,
        }
    return split


def _server_split(records: list[dict[str, Any]], target: str, vad: bool) -> dict[str, Any]:
    """Alice's TTFA cut by its own stage times: (vad,) stt, translate, the rest."""
    rows: list[dict[str, float | None]] = []
    totals: list[float] = []
    for r in records:
        ttfa = r[target].get("ttfa_ms")
        stages = r[target].get("stages_ms") or {}
        if ttfa is None or "stt" not in stages:
            continue
        row: dict[str, float | None] = {}
        if vad:
            row["vad"] = stages.get("vad", 0.0)
        row["stt"] = stages["stt"]
        row["translate"] = stages.get("translate", 0.0)
        row["answer_to_first_audio"] = ttfa - sum(v or 0.0 for v in row.values())
        rows.append(row)
        totals.append(ttfa)
    return _stage_split(rows, totals)


def _ratio(a: dict[str, Any], b: dict[str, Any], pct: str) -> float | None:
    return round(a[pct] / b[pct], 2) if a.get(pct) and b.get(pct) else None


def _analyse(records: list[dict[str, Any]], clips: list[Clip]) -> dict[str, Any]:
    ttfa = {
        "stream": summarize(_values(records, "stream", "ttfa_ms")),
        "stream_client": summarize(_values(records, "stream", "client_ttfa_ms")),
        "turn": summarize(_values(records, "turn", "ttfa_ms")),
        "direct": summarize(_values(records, "direct", "ttfa_ms")),
    }
    paired = [
        r["stream"]["ttfa_ms"] - r["direct"]["ttfa_ms"]
        for r in records
        if r["stream"].get("ttfa_ms") is not None
    ]
    splits = {
        "stream_server": _server_split(records, "stream", vad=False),
        "stream_client": _stage_split(
            [r["stream"]["client_ms"] for r in records if r["stream"].get("client_ttfa_ms")],
            _values(records, "stream", "client_ttfa_ms"),
        ),
        "turn_server": _server_split(records, "turn", vad=True),
        "direct": _stage_split(
            [r["direct"]["stages_ms"] for r in records], _values(records, "direct", "ttfa_ms")
        ),
    }
    dominant = {
        name: max(split, key=lambda stage: split[stage]["share"] or 0.0) if split else None
        for name, split in splits.items()
    }
    per_clip: dict[str, Any] = {}
    for clip in clips:
        mine = [r for r in records if r["clip"] == clip.key]
        if not mine:
            continue
        first = mine[0]
        same = sum(
            1 for r in mine if r["stream"].get("first_sentence") == r["direct"]["first_sentence"]
        )
        per_clip[clip.key] = {
            "spoken": clip.text,
            "duration_s": clip.duration_s,
            "stream_ttfa_ms": summarize(_values(mine, "stream", "ttfa_ms")).get("p50"),
            "turn_ttfa_ms": summarize(_values(mine, "turn", "ttfa_ms")).get("p50"),
            "direct_ttfa_ms": summarize(_values(mine, "direct", "ttfa_ms")).get("p50"),
            "transcript": first["stream"].get("transcript"),
            "translation": first["stream"].get("translation"),
            "first_sentence": first["stream"].get("first_sentence"),
            "direct_transcript": first["direct"]["transcript"],
            "direct_translation": first["direct"]["translation"],
            "direct_first_sentence": first["direct"]["first_sentence"],
            "same_first_sentence": f"{same}/{len(mine)}",
        }
    streams = [r["stream"] for r in records]
    return {
        "ttfa_ms": ttfa,
        "ratio_to_direct": {
            target: {pct: _ratio(ttfa[target], ttfa["direct"], pct) for pct in ("p50", "p95")}
            for target in ("stream", "stream_client", "turn")
        },
        "paired_difference_ms": summarize(paired),
        "stages": splits,
        "dominant_stage": dominant,
        "per_clip": per_clip,
        "anomalies": {
            "stream_runs_with_barge_in": sum(1 for s in streams if s["barge_ins"]),
            "stream_sessions_with_several_runs": sum(1 for s in streams if s["runs"] > 1),
            "stream_runs_with_partials": sum(1 for s in streams if s["partials"]),
            "stream_errors": [s["error"] for s in streams if s.get("error")],
            "tts_engines": sorted({str(s.get("tts_engine")) for s in streams}),
            "first_sentence_differs": sum(
                1
                for r in records
                if r["stream"].get("first_sentence") != r["direct"]["first_sentence"]
            ),
        },
    }


def _targets_met(analysis: dict[str, Any], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    limit = TARGETS["ttfa_p95_ms"]
    rounds = sorted({r["round"] for r in records})
    checks = []
    for target, name, headline in (
        ("stream", "voice TTFA p95, WebSocket stream (Alice's run-end ttfa_ms)", True),
        ("turn", "voice TTFA p95, POST /api/voice/turn", False),
    ):
        value = analysis["ttfa_ms"][target].get("p95")
        per_round = [
            summarize(_values([r for r in records if r["round"] == n], target, "ttfa_ms")).get(
                "p95"
            )
            for n in rounds
        ]
        checks.append(
            {
                "name": name,
                "value": value,
                "unit": "ms",
                "limit": f"< {limit:.0f}",
                "passed": value is not None and value < limit,
                "per_round": [v for v in per_round if v is not None],
                "headline": headline,
            }
        )
    return checks


def _voice_packages() -> dict[str, str]:
    versions = {}
    for name in _VOICE_PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def run_voice(params: VoiceParams, log: Any = print) -> dict[str, Any]:
    """Start Alice, load the engines here, run the clips through both, stop."""
    from alice.llm.providers.llamacpp import BUNDLED_MODEL_FILE
    from alice.settings import Settings
    from alice.voice.stt.whisper import ensure_bundled_whisper

    load_before = [round(x, 2) for x in os.getloadavg()]
    clips = load_clips(count=params.clips)
    system_prompt = Settings().system_prompt
    alice_settings = {**env_pairs(ALICE_DEFAULT_ENV), **env_pairs(params.alice_env)}
    with tempfile.TemporaryDirectory(prefix="alice-bench-voice-") as tmp:
        work = Path(tmp)
        whisper_dir = ensure_bundled_whisper(work / "whisper-base")
        settings = {
            "ALICE_PROVIDER": "llamacpp",
            "ALICE_SYSTEM_PROMPT": system_prompt,
            "ALICE_VOICE_STT_MODEL_PATH": str(whisper_dir),
            **alice_settings,
        }
        with embedded_alice(work, settings, log) as server:
            model_path = server.data_dir / "models" / BUNDLED_MODEL_FILE
            direct = DirectEngines(whisper_dir, model_path, system_prompt, params)
            turn = TurnClient(server.base_url)
            stream = StreamClient(server.base_url, params)
            try:
                records = _measure(
                    clips,
                    {"stream": stream.turn, "turn": turn.turn, "direct": direct.turn},
                    params,
                    log,
                )
                n_threads = direct.n_threads
            finally:
                turn.close()
                direct.close()
    analysis = _analyse(records, clips)
    parameters = asdict(params)
    parameters.update(
        {
            "clip_set": str(CLIPS_DIR.relative_to(REPO_ROOT)),
            "clip_keys": [c.key for c in clips],
            "alice_settings": alice_settings,
            "llama_n_threads": n_threads,
            "direct_sampling": _SAMPLING,
            "voice_packages": _voice_packages(),
            "load_average_before": load_before,
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        }
    )
    return {
        "parameters": parameters,
        "analysis": analysis,
        "records": records,
        "targets_met": _targets_met(analysis, records),
    }
