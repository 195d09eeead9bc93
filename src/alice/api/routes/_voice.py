"""What the voice and audio routes share: the pipeline, and reading uploads."""

from __future__ import annotations

from fastapi import Request, UploadFile
from starlette.requests import HTTPConnection

from alice.errors import InvalidAudioError, VoiceUnavailableError
from alice.voice import VoicePipeline

__all__ = ["pipeline_of", "read_upload"]


def pipeline_of(connection: Request | HTTPConnection) -> VoicePipeline:
    """The app's voice pipeline (503 when voice is switched off)."""
    pipeline: VoicePipeline | None = connection.app.state.voice
    if pipeline is None:
        raise VoiceUnavailableError(
            "Voice is switched off on this server (ALICE_VOICE_ENABLED=false).",
            transient=False,
        )
    return pipeline


async def read_upload(file: UploadFile) -> bytes:
    """The uploaded file's bytes (the body limit already capped their size)."""
    data = await file.read()
    if not data:
        raise InvalidAudioError("The uploaded file is empty.", field="file")
    return data
