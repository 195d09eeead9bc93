"""What ``alice voice`` and ``alice say`` do, in process (the commands are in `alice.cli`).

``alice voice in.wav -o out.wav`` runs one voice turn on a recording through the same
pipeline as the server (the embedded model, the store, the engines) and writes the spoken
English answer; ``alice say "text" -o out.wav`` only speaks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from alice.errors import AliceError, error_for_code
from alice.settings import Settings
from alice.voice.audio import decode_audio, wav_bytes
from alice.voice.events import EventType

__all__ = ["say", "voice_turn"]

Print = Callable[[str, str], None]


async def say(settings: Settings, text: str, output: Path, *, language: str | None) -> float:
    """Speak ``text`` into the WAV file ``output``; the seconds of speech written."""
    from alice.app import chat_config, database_config
    from alice.chat import ChatService
    from alice.llm.backends import build_router
    from alice.store import Database
    from alice.voice import build_voice

    # Speaking needs no model and no database: the pipeline is built around unused ones.
    database = Database(database_config(settings))
    service = ChatService(
        router=build_router(settings), database=database, config=chat_config(settings)
    )
    pipeline = build_voice(settings, chat=service)
    try:
        parts = [audio.pcm16() async for audio in pipeline.speak(text, language=language)]
    finally:
        await pipeline.aclose()
        await database.aclose()
    pcm = b"".join(parts)
    await asyncio.to_thread(output.write_bytes, wav_bytes(pcm, pipeline.config.output_rate))
    return len(pcm) / 2 / pipeline.config.output_rate


async def voice_turn(
    settings: Settings,
    recording: Path,
    output: Path | None,
    *,
    conversation: str | None,
    show: Print,
) -> str | None:
    """One voice turn on ``recording``; the spoken answer into ``output``.

    ``show(label, text)`` is called with the transcript, translation and answer as they
    are known. Returns the conversation id (None when nothing was said).
    """
    from alice.app import chat_config, database_config
    from alice.chat import ChatService
    from alice.llm.backends import build_router
    from alice.store import Database
    from alice.store import migrate as run_migrations
    from alice.voice import VoiceRequest, build_voice

    try:
        data = await asyncio.to_thread(recording.read_bytes)
    except OSError as exc:
        raise AliceError(f"Cannot read {recording}: {exc.strerror}") from exc
    database = Database(database_config(settings))
    router = build_router(settings)
    pipeline = None
    try:
        await run_migrations(database)
        await router.start()
        service = ChatService(router=router, database=database, config=chat_config(settings))
        pipeline = build_voice(settings, chat=service)
        audio = decode_audio(data, max_seconds=pipeline.config.max_audio_s)
        request = VoiceRequest(conversation_id=conversation, speak=output is not None)
        pcm: list[bytes] = []
        conversation_id: str | None = None
        async for event in pipeline.run(audio, request):
            d = event.data
            if event.type is EventType.VAD_END and not d["speech"]:
                show("silence", "no speech in the recording")
            elif event.type is EventType.STT_END:
                show("heard", d["text"])
            elif event.type is EventType.TRANSLATE_END:
                show("english", d["text"])
            elif event.type is EventType.CHAT_START:
                conversation_id = d["conversation_id"]
            elif event.type is EventType.CHAT_END:
                show("answer", d["text"])
            elif event.type is EventType.TTS_AUDIO:
                pcm.append(d["audio"])
            elif event.type is EventType.ERROR:
                raise error_for_code(d["code"], d["message"])
            elif event.type is EventType.RUN_END and d.get("ttfa_ms") is not None:
                show("timing", f"first audio after {d['ttfa_ms']:.0f} ms; stages {d['stages_ms']}")
        if output is not None:
            wav = wav_bytes(b"".join(pcm), pipeline.config.output_rate)
            await asyncio.to_thread(output.write_bytes, wav)
        return conversation_id
    finally:
        if pipeline is not None:
            await pipeline.aclose()
        await router.aclose()
        await database.aclose()
