"""Voice: Swedish speech in, English speech out, through the chat service.

`build_voice` wires the pipeline from settings: the STT chain (faster-whisper, then an
OpenAI-compatible server), translation (Whisper's translate task or the LLM), the chat
service, and the TTS chain (piper, espeak-ng, an OpenAI-compatible server), each chain
under the Guardian. See `alice.voice.pipeline` for a run's stages and events.
"""

from __future__ import annotations

from collections.abc import Callable

from alice.chat import ChatService
from alice.errors import SpeechToTextError, TextToSpeechError
from alice.llm.providers._http import UpstreamConfig
from alice.llm.router.breaker import BreakerConfig
from alice.settings import Settings
from alice.voice.audio import Audio, decode_audio, from_pcm16
from alice.voice.chain import EngineChain
from alice.voice.events import STAGE_ORDER, EventType, PipelineEvent, Stage
from alice.voice.metrics import VoiceMetrics
from alice.voice.pipeline import LiveUtterance, VoiceConfig, VoicePipeline, VoiceRequest
from alice.voice.stt import SpeechToText, Transcript
from alice.voice.translate import LlmTranslator, SpeechTranslator, Translator
from alice.voice.tts import TextToSpeech
from alice.voice.vad import VadConfig

__all__ = [
    "STAGE_ORDER",
    "Audio",
    "EventType",
    "LiveUtterance",
    "PipelineEvent",
    "Stage",
    "Transcript",
    "VoiceConfig",
    "VoiceMetrics",
    "VoicePipeline",
    "VoiceRequest",
    "build_voice",
    "decode_audio",
    "from_pcm16",
    "voice_config",
]


def voice_config(settings: Settings) -> VoiceConfig:
    """The pipeline's configuration from settings."""
    return VoiceConfig(
        input_language=settings.voice_input_language,
        output_language=settings.voice_output_language,
        max_audio_s=settings.voice_max_audio_s,
        output_rate=settings.voice_output_rate,
        partial_interval_s=settings.voice_partial_interval_s,
        vad=VadConfig(
            threshold=settings.voice_vad_threshold,
            neg_threshold=min(0.35, settings.voice_vad_threshold),
            end_silence_s=settings.voice_end_silence_s,
        ),
        stt_prompt=settings.voice_stt_prompt,
    )


def _remote_config(settings: Settings) -> UpstreamConfig:
    key = settings.voice_remote_api_key
    return UpstreamConfig(
        # The settings validator makes sure the URL is set when an openai engine is named.
        base_url=settings.voice_remote_url or "",
        api_key=key.get_secret_value() if key else None,
        connect_timeout_s=settings.upstream_connect_timeout_s,
        read_timeout_s=settings.upstream_read_timeout_s,
    )


def _stt_engines(settings: Settings) -> list[SpeechToText]:
    from alice.voice.stt.openai import OpenAISpeechToText
    from alice.voice.stt.whisper import WhisperConfig, WhisperSpeechToText

    engines: list[SpeechToText] = []
    for name in settings.voice_stt:
        if name == "whisper":
            engines.append(
                WhisperSpeechToText(
                    WhisperConfig(
                        model_path=settings.voice_stt_model_path,
                        data_dir=settings.resolved_data_dir,
                        threads=settings.voice_stt_threads,
                        beam_size=settings.voice_stt_beam_size,
                        window_s=settings.voice_stt_window_s,
                    )
                )
            )
        else:
            engines.append(
                OpenAISpeechToText(_remote_config(settings), model=settings.voice_remote_stt_model)
            )
    return engines


def _tts_engines(settings: Settings) -> list[TextToSpeech]:
    from alice.voice.tts.espeak import EspeakTextToSpeech
    from alice.voice.tts.openai import OpenAITextToSpeech
    from alice.voice.tts.piper import PiperTextToSpeech

    engines: list[TextToSpeech] = []
    for name in settings.voice_tts:
        if name == "piper":
            engines.append(PiperTextToSpeech(settings.voice_piper_model))
        elif name == "espeak":
            engines.append(EspeakTextToSpeech(binary=settings.voice_espeak_binary))
        else:
            engines.append(
                OpenAITextToSpeech(
                    _remote_config(settings),
                    model=settings.voice_remote_tts_model,
                    voice=settings.voice_remote_tts_voice,
                    rate=settings.voice_remote_tts_rate,
                    languages=frozenset({settings.voice_output_language}),
                )
            )
    return engines


def build_voice(
    settings: Settings,
    *,
    chat: ChatService,
    metrics: VoiceMetrics | None = None,
    under_pressure: Callable[[], bool] = lambda: False,
) -> VoicePipeline:
    """The voice pipeline as settings configure it (engines load on first use)."""
    breaker = BreakerConfig(
        failure_rate=settings.breaker_failure_rate,
        min_requests=settings.breaker_min_requests,
        window_s=settings.breaker_window_s,
        cooldown_s=settings.breaker_cooldown_s,
    )
    failed = metrics.engine_failed if metrics is not None else None
    stt: EngineChain[SpeechToText] = EngineChain(
        "stt",
        _stt_engines(settings),
        breaker=breaker,
        on_failure=failed,
        timeout_s=settings.voice_stage_timeout_s,
        error=SpeechToTextError,
    )
    tts: EngineChain[TextToSpeech] = EngineChain(
        "tts",
        _tts_engines(settings),
        breaker=breaker,
        under_pressure=under_pressure,
        heavy=lambda engine: engine.heavy,
        on_failure=failed,
        timeout_s=settings.voice_stage_timeout_s,
        error=TextToSpeechError,
    )
    translator: Translator | None = None
    if settings.voice_translate == "speech":
        translator = SpeechTranslator(stt, prompt=lambda: None)
    elif settings.voice_translate == "llm":
        translator = LlmTranslator(chat.router)
    return VoicePipeline(
        chat=chat,
        stt=stt,
        tts=tts,
        translator=translator,
        config=voice_config(settings),
        metrics=metrics,
    )
