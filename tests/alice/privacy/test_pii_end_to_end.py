"""PII masking as a user meets it: the model never sees the numbers, the user keeps them,
a tenant can turn masking off, and no log line of a PII-laden conversation holds any."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from alice.app import create_app
from alice.llm.providers.llamacpp import LlamaCppProvider
from alice.llm.types import Chunk, CompletionRequest
from alice.security.keys import generate_key
from tests.conftest import SettingsFactory
from tests.support.alice_process import alice_serve
from tests.support.servers import serve_in_thread


def _samordningsnummer() -> str:
    from tests.alice.privacy.test_pii import luhn_digit

    body = "850772123"  # born 12 July 1985, day + 60
    return f"{body[:6]}-{body[6:]}{luhn_digit(body)}"


# Valid values of every kind (check digits computed or well-known test numbers).
PII = {
    "personnummer": "19850712-1237",
    "samordningsnummer": _samordningsnummer(),
    "phone": "070-123 45 67",
    "email": "annika.lindqvist@example.se",
    "iban": "SE45 5000 0000 0583 9825 7466",
    "card": "4111 1111 1111 1111",
}
MESSAGE = (
    f"Hej Alice! Jag är Annika, personnummer {PII['personnummer']}, min mans "
    f"samordningsnummer är {PII['samordningsnummer']}. Ring mig på {PII['phone']} eller "
    f"mejla {PII['email']}. Lönen går till {PII['iban']} och kortet är {PII['card']}. "
    "Kan du sammanfatta vad jag berättat?"
)


def _forms(value: str) -> set[str]:
    """The value as written and as bare digits (how a log could carry it)."""
    digits = re.sub(r"\D", "", value)
    forms = {value}
    if len(digits) >= 7:
        forms |= {digits, digits[-10:]}
    return forms


class Recording:
    """The real embedded model, with a record of every dialogue it was given."""

    def __init__(self, inner: LlamaCppProvider) -> None:
        self._inner = inner
        self.name = inner.name
        self.seen: list[CompletionRequest] = []

    @property
    def models(self) -> tuple[str, ...]:
        return self._inner.models

    async def start(self) -> None:
        await self._inner.start()

    async def aclose(self) -> None:
        return None

    async def health(self):  # type: ignore[no-untyped-def]
        return await self._inner.health()

    async def stream(self, request: CompletionRequest) -> AsyncIterator[Chunk]:
        self.seen.append(request)
        async for chunk in self._inner.stream(request):
            yield chunk


def _seen_text(recording: Recording) -> str:
    return "\n".join(m.content for r in recording.seen for m in r.messages)


def test_the_model_sees_placeholders_and_the_user_keeps_the_values(
    make_settings: SettingsFactory, llm: LlamaCppProvider
) -> None:
    recording = Recording(llm)
    settings = make_settings(auth="keys", bootstrap_admin_key=(admin := generate_key()))
    headers = {"Authorization": f"Bearer {admin}"}
    with (
        serve_in_thread(create_app(settings, provider=recording)) as url,  # type: ignore[arg-type]
        httpx.Client(base_url=url, headers=headers, timeout=120) as client,
    ):
        answer = client.post("/api/chat", json={"text": MESSAGE, "max_tokens": 24}).json()
        seen = _seen_text(recording)
        for value in PII.values():
            for form in _forms(value):
                assert form not in seen, form
        for tag in ("PERSONAL_ID", "COORDINATION_ID", "PHONE", "EMAIL", "IBAN", "CARD"):
            assert f"<{tag}_1>" in seen, tag
        # What the user wrote is stored and shown as written.
        stored = client.get(f"/api/conversations/{answer['conversation_id']}").json()
        assert stored["messages"][0]["content"] == MESSAGE
        # The next turn's history is masked too (the stored message has the values).
        client.post(
            "/api/chat",
            json={"text": "Tack!", "conversation_id": answer["conversation_id"], "max_tokens": 4},
        )
        assert PII["email"] not in _seen_text(recording)
        # The OpenAI API takes the same path.
        client.post(
            "/v1/chat/completions",
            json={
                "model": "gemma-3-270m",
                "messages": [{"role": "user", "content": MESSAGE}],
                "max_tokens": 4,
            },
        )
        assert PII["card"] not in _seen_text(recording)

        # A tenant that turns masking off gives its dialogue to the model as it is.
        assert client.post("/api/admin/tenants", json={"name": "raw"}).status_code == 201
        changed = client.patch("/api/admin/tenants/raw", json={"pii_masking": False})
        assert changed.status_code == 200 and changed.json()["pii_masking"] is False
        raw_key = client.post("/api/keys", json={"tenant": "raw", "scope": "chat"}).json()["key"]
        recording.seen.clear()
        httpx.post(
            f"{url}/api/chat",
            json={"text": MESSAGE, "max_tokens": 4},
            headers={"Authorization": f"Bearer {raw_key}"},
            timeout=120,
        )
        assert PII["email"] in _seen_text(recording)
        # ... while the default tenant is still masked.
        recording.seen.clear()
        client.post("/api/chat", json={"text": MESSAGE, "max_tokens": 4})
        assert PII["email"] not in _seen_text(recording)
        back = client.patch("/api/admin/tenants/raw", json={"pii_masking": None})
        assert back.json()["pii_masking"] is None


@pytest.fixture
def logging_alice(tmp_path: Path, model_file: Path) -> Iterator[tuple[str, Path, Path]]:
    """``alice serve`` at debug level, stderr and NDJSON log file captured."""
    log_file = tmp_path / "alice.ndjson"
    stderr_file = tmp_path / "stderr.log"
    settings = {
        "ALICE_DATA_DIR": str(tmp_path / "data"),
        "ALICE_MODEL_PATH": str(model_file),
        "ALICE_LOG_LEVEL": "debug",
        "ALICE_LOG_FILE": str(log_file),
        "ALICE_AUTH": "off",
        "ALICE_RATE_LIMIT": "off",
        "ALICE_GUARDIAN_ENABLED": "false",
        "ALICE_MAX_MESSAGE_CHARS": "600",
    }
    with alice_serve(settings, cwd=tmp_path, ready_path="/ready", log_path=stderr_file) as url:
        yield url, log_file, stderr_file


def test_no_log_line_of_a_conversation_full_of_pii_holds_any(
    logging_alice: tuple[str, Path, Path],
) -> None:
    url, log_file, stderr_file = logging_alice
    with httpx.Client(base_url=url, timeout=120) as client:
        first = client.post("/api/chat", json={"text": MESSAGE, "max_tokens": 16})
        assert first.status_code == 200
        conversation = first.json()["conversation_id"]
        with client.stream(
            "POST",
            "/api/chat",
            json={
                "text": MESSAGE,
                "stream": True,
                "conversation_id": conversation,
                "max_tokens": 8,
            },
        ) as streamed:
            streamed.read()
        client.post(
            "/v1/chat/completions",
            json={
                "model": "gemma-3-270m",
                "messages": [{"role": "user", "content": MESSAGE}],
                "max_tokens": 4,
                "stream": True,
            },
        )
        # Refused requests carrying PII where values usually get logged: ids, model names,
        # too-long texts, invalid fields, unknown routes.
        assert (
            client.post(
                "/api/chat", json={"text": MESSAGE, "conversation_id": PII["email"]}
            ).status_code
            == 404
        )
        assert (
            client.post("/api/chat", json={"text": MESSAGE, "model": PII["phone"]}).status_code
            == 404
        )
        assert client.post("/api/chat", json={"text": MESSAGE * 3}).status_code == 413
        assert (
            client.post("/api/chat", json={"text": MESSAGE, "temperature": PII["card"]}).status_code
            == 422
        )
        assert client.get(f"/api/conversations/{PII['personnummer']}").status_code == 404
        assert client.get(f"/no/such/{PII['iban'].replace(' ', '')}").status_code == 404
    time.sleep(0.5)
    logs = log_file.read_text() + stderr_file.read_text(errors="replace")
    assert "chat.turn" in logs or "alice.started" in logs  # the logs were captured
    leaked = [form for value in PII.values() for form in _forms(value) if form in logs]
    assert leaked == []


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_value_that_slips_into_a_log_line_is_written_as_its_tag(
    fmt: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Second line of defence: whatever reaches a log line (an event field, a library's
    # message, a traceback) is redacted when rendered, on stderr and in the log file.
    import logging

    import structlog

    from alice.observability import configure_logging

    log_file = tmp_path / "alice.ndjson"
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    saved_structlog = structlog.get_config()
    try:
        configure_logging(level="info", fmt=fmt, log_file=log_file)
        structlog.get_logger("alice.test").warning(
            "user.said", detail=f"mejla {PII['email']} eller ring {PII['phone']}"
        )
        logging.getLogger("some.library").error("bad request from %s", PII["personnummer"])
        try:
            raise ValueError(f"cannot charge {PII['card']} from {PII['iban']}")
        except ValueError:
            structlog.get_logger("alice.test").exception("payment.failed")
        for handler in logging.getLogger().handlers:
            handler.flush()
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        structlog.configure(**saved_structlog)
    written = capsys.readouterr().err + log_file.read_text()
    assert "user.said" in written and "payment.failed" in written and "ValueError" in written
    for tag in ("<EMAIL>", "<PHONE>", "<PERSONAL_ID>", "<CARD>", "<IBAN>"):
        assert tag in written, tag
    leaked = [form for value in PII.values() for form in _forms(value) if form in written]
    assert leaked == []
