"""Audio in and out: decode what clients send, convert it, encode WAV.

Every engine works on `Audio`: mono float32 samples at a known rate. Speech recognition
and the VAD take 16 kHz (`SPEECH_RATE`); speech synthesis produces its voice's rate and
`Audio.resampled` converts. Decoding accepts any container and codec PyAV (FFmpeg) reads
(WAV of any sample format, FLAC, MP3, Ogg/Opus, WebM, M4A), mixes down to mono and
resamples, so a client's wrong sample rate or channel count is converted, not refused.
What cannot be decoded is refused with a clear status: not audio or an unknown codec 415,
no samples or broken frames 422, longer than the limit 413 (decoding stops at the limit,
so a long upload costs no more than the limit).
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import soxr

from alice.errors import AudioTooLongError, InvalidAudioError, UnsupportedMediaTypeError

__all__ = [
    "SPEECH_RATE",
    "Audio",
    "Samples",
    "decode_audio",
    "from_pcm16",
    "pcm16_bytes",
    "wav_bytes",
]

#: The rate speech recognition and the VAD work at.
SPEECH_RATE = 16_000

Samples = npt.NDArray[np.float32]

# Raw PCM16 from a WebSocket client: rates and channel counts worth converting. Anything
# else is a client bug better refused than silently resampled from a nonsense rate.
_PCM_RATES = frozenset({8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000})
_MAX_CHANNELS = 8


@dataclass(frozen=True, slots=True)
class Audio:
    """Mono audio: float32 samples in [-1, 1] at ``rate`` Hz."""

    samples: Samples
    rate: int

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.rate

    def resampled(self, rate: int) -> Audio:
        """The same audio at ``rate`` (itself when it already is)."""
        if rate == self.rate:
            return self
        out = soxr.resample(self.samples, self.rate, rate)
        return Audio(np.asarray(out, dtype=np.float32), rate)

    def slice(self, start_s: float, end_s: float) -> Audio:
        """The part between two times, clamped to the audio."""
        first = max(0, int(start_s * self.rate))
        last = min(len(self.samples), int(end_s * self.rate))
        return Audio(self.samples[first:last], self.rate)

    def pcm16(self) -> bytes:
        """Little-endian signed 16-bit samples."""
        return pcm16_bytes(self.samples)

    def wav(self) -> bytes:
        """A WAV file (PCM16 mono)."""
        return wav_bytes(self.pcm16(), self.rate)


def pcm16_bytes(samples: Samples) -> bytes:
    """Float samples as little-endian PCM16 (clipped to the 16-bit range)."""
    scaled = np.clip(samples, -1.0, 1.0) * 32767.0
    return scaled.astype("<i2").tobytes()


def wav_bytes(pcm16: bytes, rate: int, *, channels: int = 1) -> bytes:
    """Wrap PCM16 bytes in a WAV header."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm16)
    return buffer.getvalue()


def from_pcm16(data: bytes, *, rate: int = SPEECH_RATE, channels: int = 1) -> Audio:
    """Raw interleaved PCM16 (little-endian) as mono `Audio` at its own rate.

    Raises:
        InvalidAudioError: a rate or channel count that is not a real PCM format, or a
            byte count that does not divide into whole frames.
    """
    if rate not in _PCM_RATES:
        raise InvalidAudioError(
            f"Sample rate {rate} Hz is not supported; use one of "
            f"{', '.join(str(r) for r in sorted(_PCM_RATES))} (16000 preferred).",
            field="sample_rate",
        )
    if not 1 <= channels <= _MAX_CHANNELS:
        raise InvalidAudioError(
            f"Channel count {channels} is not supported; use 1 to {_MAX_CHANNELS} "
            "(mono preferred).",
            field="channels",
        )
    frame = 2 * channels
    if len(data) % frame:
        raise InvalidAudioError(
            f"PCM16 with {channels} channel(s) comes in {frame}-byte frames; got {len(data)} bytes."
        )
    samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1, dtype=np.float32)
    return Audio(samples, rate)


def decode_audio(data: bytes, *, max_seconds: float, rate: int = SPEECH_RATE) -> Audio:
    """Decode an audio file of any format PyAV reads to mono float32 at ``rate``.

    Raises:
        UnsupportedMediaTypeError: the bytes are not audio in a format Alice decodes.
        InvalidAudioError: the file holds no audio samples, or its frames are broken.
        AudioTooLongError: the audio is longer than ``max_seconds``.
    """
    if not data:
        raise InvalidAudioError("The audio file is empty.", field="file")
    # PyAV is imported here: decoding is the only thing that needs FFmpeg's libraries.
    import av
    import av.error

    try:
        container = av.open(io.BytesIO(data), mode="r")
    except (av.error.InvalidDataError, av.error.FFmpegError, ValueError) as exc:
        raise UnsupportedMediaTypeError(
            "The file is not audio in a format Alice can decode "
            "(WAV, FLAC, MP3, Ogg/Opus, WebM and M4A are).",
        ) from exc
    with container:
        if not container.streams.audio:
            raise UnsupportedMediaTypeError("The file holds no audio stream.")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        limit = int(max_seconds * rate)
        parts: list[Samples] = []
        count = 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    part = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                    parts.append(part)
                    count += len(part)
                if count > limit:
                    raise AudioTooLongError(
                        f"The audio is longer than the {max_seconds:g} s allowed.",
                        field="file",
                    )
            for out in resampler.resample(None):
                part = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                parts.append(part)
                count += len(part)
        except av.error.FFmpegError as exc:
            raise InvalidAudioError(
                "The audio's frames cannot be decoded (the file is damaged or cut off).",
                field="file",
            ) from exc
    if count == 0:
        raise InvalidAudioError("The audio file holds no samples.", field="file")
    if count > limit:
        raise AudioTooLongError(
            f"The audio is longer than the {max_seconds:g} s allowed.", field="file"
        )
    return Audio(np.concatenate(parts), rate)
