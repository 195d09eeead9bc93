"""Alice's typed errors, each with a stable machine code and an HTTP status.

Every error a client can see is an `AliceError`; the API turns it into
``{"error": {"code": ..., "message": ...}}`` with ``status``. Third-party errors are
mapped to the most specific class here, at the boundary where they happen, with
``raise ... from exc``; nothing else ever reaches a client (anything unexpected becomes
``internal-error`` and its traceback stays in the server log).

Hierarchy::

    AliceError                          500 internal-error
    ├── InvalidRequestError             422 invalid-request
    │   ├── TenantExistsError           409 tenant-exists
    │   └── InvalidAudioError           422 invalid-audio
    ├── UnsupportedMediaTypeError       415 unsupported-media-type
    ├── PayloadTooLargeError            413 payload-too-large
    │   ├── MessageTooLongError         413 message-too-long
    │   └── AudioTooLongError           413 audio-too-long
    ├── UnauthenticatedError            401 unauthenticated     (WWW-Authenticate)
    ├── ForbiddenError                  403 forbidden
    ├── RateLimitedError                429 rate-limited        (Retry-After)
    ├── OverloadedError                 429 overloaded          (Retry-After)
    ├── LoadShedError                   503 load-shed           (Retry-After)
    ├── RequestTimeoutError             504 request-timeout
    ├── InsufficientStorageError        507 insufficient-storage (Retry-After)
    ├── NotFoundError                   404 not-found
    │   ├── ConversationNotFoundError   404 conversation-not-found
    │   ├── ModelNotFoundError          404 model-not-found
    │   ├── ApiKeyNotFoundError         404 api-key-not-found
    │   └── TenantNotFoundError         404 tenant-not-found
    ├── ModelError                      502 model-error
    │   ├── ModelUnavailableError       503 model-unavailable   (Retry-After)
    │   ├── ModelTimeoutError           504 model-timeout
    │   └── UpstreamError               502 upstream-error
    ├── StorageError                    503 storage-unavailable (Retry-After)
    └── VoiceError                      502 voice-failed
        ├── SpeechToTextError           502 stt-failed
        ├── TranslationError            502 translate-failed
        ├── TextToSpeechError           502 tts-failed
        └── VoiceUnavailableError       503 voice-unavailable   (Retry-After)

    ConfigurationError                  start-up only: never reaches a client
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AliceError",
    "ApiKeyNotFoundError",
    "AudioTooLongError",
    "ConfigurationError",
    "ConversationNotFoundError",
    "DecryptionError",
    "ForbiddenError",
    "InsufficientStorageError",
    "InvalidAudioError",
    "InvalidRequestError",
    "LoadShedError",
    "MessageTooLongError",
    "ModelError",
    "ModelNotFoundError",
    "ModelTimeoutError",
    "ModelUnavailableError",
    "NotFoundError",
    "OverloadedError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "RequestTimeoutError",
    "SpeechToTextError",
    "StorageError",
    "TenantExistsError",
    "TenantNotFoundError",
    "TextToSpeechError",
    "TranslationError",
    "UnauthenticatedError",
    "UnsupportedMediaTypeError",
    "UpstreamError",
    "VoiceError",
    "VoiceUnavailableError",
    "error_for_code",
]


class ConfigurationError(Exception):
    """A setting is missing or invalid; the message is one line for a person."""


class AliceError(Exception):
    """Base of every client-visible error.

    Attributes:
        code: stable, kebab-case machine code.
        status: HTTP status the API answers with.
        message: human-readable explanation, safe to show to a client.
        field: the request field at fault, when there is one.
        retry_after: seconds a client should wait before retrying, when known.
    """

    code: ClassVar[str] = "internal-error"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "Internal server error."

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.field = field
        self.retry_after = retry_after
        super().__init__(self.message)

    def to_dict(self) -> dict[str, object]:
        """The JSON body of this error."""
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return {"error": body}


class InvalidRequestError(AliceError):
    """The request is well-formed JSON but its content is not acceptable."""

    code = "invalid-request"
    status = 422
    default_message = "The request is invalid."


class TenantExistsError(InvalidRequestError):
    """A tenant of that name exists."""

    code = "tenant-exists"
    status = 409
    default_message = "The tenant exists."


class UnauthenticatedError(AliceError):
    """No API key, or one that is unknown or revoked."""

    code = "unauthenticated"
    status = 401
    default_message = "A valid API key is required (Authorization: Bearer alice_...)."


class ForbiddenError(AliceError):
    """The key is valid but lacks the scope this operation needs."""

    code = "forbidden"
    status = 403
    default_message = "This API key may not do that."


class RateLimitedError(AliceError):
    """The caller's token bucket is empty."""

    code = "rate-limited"
    status = 429
    default_message = "Too many requests; slow down."


class RequestTimeoutError(AliceError):
    """The request took longer than ``ALICE_REQUEST_TIMEOUT_S``."""

    code = "request-timeout"
    status = 504
    default_message = "The request took too long and was stopped."


class InsufficientStorageError(AliceError):
    """Free disk is low (the Guardian's disk sentinel): uploads are refused."""

    code = "insufficient-storage"
    status = 507
    default_message = "The server is low on disk space; uploads are refused for now."


class PayloadTooLargeError(AliceError):
    """The request body exceeds ``ALICE_MAX_BODY_BYTES``."""

    code = "payload-too-large"
    status = 413
    default_message = "The request body is too large."


class MessageTooLongError(PayloadTooLargeError):
    """One message exceeds ``ALICE_MAX_MESSAGE_CHARS``."""

    code = "message-too-long"
    default_message = "The message is too long."


class OverloadedError(AliceError):
    """Every model slot is busy and the waiting queue is full: back-pressure."""

    code = "overloaded"
    status = 429
    default_message = "Alice is at capacity, retry shortly."


class LoadShedError(AliceError):
    """Low-priority work refused while the Guardian is in emergency mode."""

    code = "load-shed"
    status = 503
    default_message = "Alice is shedding low-priority work under pressure, retry later."


class NotFoundError(AliceError):
    """The addressed object or route does not exist."""

    code = "not-found"
    status = 404
    default_message = "Not found."


class ConversationNotFoundError(NotFoundError):
    """No conversation with that id (for this caller)."""

    code = "conversation-not-found"
    default_message = "Conversation not found."


class ApiKeyNotFoundError(NotFoundError):
    """No such API key for the caller's tenant."""

    code = "api-key-not-found"
    default_message = "No such API key."


class TenantNotFoundError(NotFoundError):
    """No such tenant."""

    code = "tenant-not-found"
    default_message = "No such tenant."


class ModelNotFoundError(NotFoundError):
    """The requested model is not served here."""

    code = "model-not-found"
    default_message = "Model not found."


class ModelError(AliceError):
    """The model backend failed."""

    code = "model-error"
    status = 502
    default_message = "The model failed to answer."


class ModelUnavailableError(ModelError):
    """The model cannot take requests now (loading, down, unreachable)."""

    code = "model-unavailable"
    status = 503
    default_message = "The model is unavailable, try again shortly."


class ModelTimeoutError(ModelError):
    """The model did not answer in time."""

    code = "model-timeout"
    status = 504
    default_message = "The model did not answer in time."


class UpstreamError(ModelError):
    """A remote model server answered with an error or an unreadable response.

    ``transient``: whether trying again may help (a 5xx answer, a connection that broke
    off) as opposed to a lasting refusal (bad credentials, unknown model).
    """

    code = "upstream-error"
    status = 502
    default_message = "The model server answered with an error."

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        retry_after: int | None = None,
        transient: bool = False,
    ) -> None:
        super().__init__(message, field=field, retry_after=retry_after)
        self.transient = transient


class StorageError(AliceError):
    """The database cannot be reached or refused the write."""

    code = "storage-unavailable"
    status = 503
    default_message = "Storage is unavailable, try again shortly."

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        retry_after: int | None = 2,
    ) -> None:
        # A database restart or failover takes seconds (the chaos drill measures 1-2 s);
        # clients get told when to come back, as for every 503.
        super().__init__(message, field=field, retry_after=retry_after)


class DecryptionError(AliceError):
    """A stored value cannot be decrypted: its key is not configured, or it was altered.

    The client sees a generic message; ``key_id`` (a fingerprint, not the key) is for the
    operator's log.
    """

    code = "stored-data-unreadable"
    status = 500
    default_message = "Stored data cannot be decrypted with this server's keys."

    def __init__(self, *, key_id: str, tampered: bool = False) -> None:
        super().__init__()
        self.key_id = key_id
        self.tampered = tampered


class InvalidAudioError(InvalidRequestError):
    """Audio that can be read but not used (no samples, corrupt frames, bad parameters)."""

    code = "invalid-audio"
    default_message = "The audio cannot be used."


class UnsupportedMediaTypeError(AliceError):
    """A body in a format Alice cannot decode (not audio, or a codec it lacks)."""

    code = "unsupported-media-type"
    status = 415
    default_message = "This media type is not supported."


class AudioTooLongError(PayloadTooLargeError):
    """Audio longer than ``ALICE_VOICE_MAX_AUDIO_S``."""

    code = "audio-too-long"
    default_message = "The audio is too long."


class VoiceError(AliceError):
    """A voice stage failed on every engine of its chain.

    ``transient``: whether the next engine (or a retry) may succeed, as opposed to a
    lasting failure of the input itself.
    """

    code = "voice-failed"
    status = 502
    default_message = "The voice pipeline failed."

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        retry_after: int | None = None,
        transient: bool = True,
    ) -> None:
        super().__init__(message, field=field, retry_after=retry_after)
        self.transient = transient


class SpeechToTextError(VoiceError):
    """Speech recognition failed."""

    code = "stt-failed"
    default_message = "Speech recognition failed."


class TranslationError(VoiceError):
    """Translating the transcript to the output language failed."""

    code = "translate-failed"
    default_message = "Translation failed."


class TextToSpeechError(VoiceError):
    """Speech synthesis failed."""

    code = "tts-failed"
    default_message = "Speech synthesis failed."


class VoiceUnavailableError(VoiceError):
    """No engine of a stage can run here (not installed, or every one is cooling down)."""

    code = "voice-unavailable"
    status = 503
    default_message = "Voice is unavailable on this server right now."


def error_for_code(code: str, message: str) -> AliceError:
    """The error class with this stable ``code`` (an `AliceError` when none has it).

    Errors that crossed a boundary as ``{"code", "message"}`` (a voice run's ``error``
    event) become exceptions again with their own status.
    """
    pending: list[type[AliceError]] = [AliceError]
    while pending:
        cls = pending.pop()
        if cls.code == code:
            try:
                return cls(message)
            except TypeError:  # a constructor with required arguments of its own
                break
        pending.extend(cls.__subclasses__())
    return AliceError(message)
