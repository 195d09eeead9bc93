"""The Guardian as a client sees it: the mode header, status, drills and their effects."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
import structlog

from alice.app import create_app
from alice.llm.providers.llamacpp import LlamaCppProvider
from tests.conftest import SettingsFactory
from tests.support.servers import serve_in_thread

STORY = "Berätta en lång saga om en drake som bor i ett berg."


@pytest.fixture
def alice(make_settings: SettingsFactory, llm: LlamaCppProvider) -> Iterator[httpx.Client]:
    settings = make_settings(
        brownout_max_tokens=3,
        emergency_max_tokens=2,
        cache="off",
    )
    with (
        serve_in_thread(create_app(settings, provider=llm)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        yield client


def test_every_response_carries_the_mode(alice: httpx.Client) -> None:
    for response in (
        alice.get("/health"),
        alice.get("/no/such/route"),
        alice.post("/api/chat", json={"text": "hej", "max_tokens": 4}),
        alice.post("/api/chat", json={"text": ""}),
    ):
        assert response.headers["x-guardian-mode"] == "ok"


def test_status_shows_mode_samples_thresholds_and_backends(
    make_settings: SettingsFactory, llm: LlamaCppProvider
) -> None:
    settings = make_settings(guardian_enabled=True, guardian_interval_s=0.2)
    with serve_in_thread(create_app(settings, provider=llm)) as url:
        deadline = time.monotonic() + 30
        status = httpx.get(f"{url}/guardian/status").json()
        while status["sample"] is None and time.monotonic() < deadline:
            time.sleep(0.1)
            status = httpx.get(f"{url}/guardian/status").json()
    # The mode depends on how busy this machine is; that it is one of the three does not.
    assert status["mode"] in ("ok", "brownout", "emergency")
    assert status["sampling"] is True
    assert 0 < status["sample"]["ram_pct"] < 100
    assert status["sample"]["disk_free_bytes"] > 0
    assert status["thresholds"]["ram_brownout_enter_pct"] == 80.0
    assert status["probes"]["ram"] in ("ok", "degraded", "hard-fail")
    assert status["backends"]["main"]["breaker"] == "closed"


def test_a_brownout_drill_shortens_answers_until_cleared(alice: httpx.Client) -> None:
    drill = alice.post("/api/admin/guardian/drill", json={"action": "brownout"})
    assert drill.status_code == 200
    assert drill.json()["mode"] == "brownout"
    assert drill.json()["transitions"][-1]["to_mode"] == "brownout"
    assert "drill" in drill.json()["transitions"][-1]["cause"]
    answer = alice.post("/api/chat", json={"text": STORY, "max_tokens": 100})
    assert answer.headers["x-guardian-mode"] == "brownout"
    assert answer.json()["usage"]["completion_tokens"] <= 3
    cleared = alice.post("/api/admin/guardian/drill", json={"action": "clear"})
    assert cleared.json()["mode"] == "ok"
    longer = alice.post("/api/chat", json={"text": STORY, "max_tokens": 20})
    assert longer.json()["usage"]["completion_tokens"] > 3


def test_an_emergency_sheds_background_work_and_keeps_interactive_chat(
    alice: httpx.Client,
) -> None:
    alice.post("/api/admin/guardian/drill", json={"action": "emergency"})
    shed = alice.post("/api/chat", json={"text": "hej"}, headers={"X-Alice-Priority": "background"})
    assert shed.status_code == 503
    assert shed.json()["error"]["code"] == "load-shed"
    assert int(shed.headers["retry-after"]) > 0
    assert shed.headers["x-guardian-mode"] == "emergency"
    interactive = alice.post("/api/chat", json={"text": STORY})
    assert interactive.status_code == 200
    assert interactive.json()["usage"]["completion_tokens"] <= 2
    alice.post("/api/admin/guardian/drill", json={"action": "clear"})
    assert (
        alice.post(
            "/api/chat",
            json={"text": "hej", "max_tokens": 2},
            headers={"X-Alice-Priority": "background"},
        ).status_code
        == 200
    )


def test_the_killswitch_restarts_the_model_and_alice_recovers_by_itself(
    alice: httpx.Client, llm: LlamaCppProvider
) -> None:
    before = llm.worker_pid
    drill = alice.post("/api/admin/guardian/drill", json={"action": "killswitch"})
    assert drill.status_code == 200
    assert drill.json()["mode"] == "ok"  # the killswitch acts; it is not a mode
    # Back by itself: ready and answering again, on a fresh worker.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ready = alice.get("/ready").json()
        if ready["components"]["model"]["state"] == "healthy" and llm.worker_pid != before:
            break
        time.sleep(0.1)
    assert llm.worker_pid != before
    assert ready["components"]["model"]["state"] == "healthy"
    answer = alice.post(
        "/api/chat", json={"text": "Vad är huvudstaden i Sverige?", "temperature": 0}
    )
    assert "Stockholm" in answer.json()["text"]
    assert alice.get("/guardian/status").json()["backends"]["main"]["breaker"] == "closed"


def test_invalid_drills_are_422(alice: httpx.Client) -> None:
    response = alice.post("/api/admin/guardian/drill", json={"action": "panic"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "action"


def test_every_transition_is_logged_with_its_cause(alice: httpx.Client) -> None:
    with structlog.testing.capture_logs() as logs:
        alice.post("/api/admin/guardian/drill", json={"action": "brownout"})
        alice.post("/api/admin/guardian/drill", json={"action": "clear"})
    transitions = [e for e in logs if e["event"] == "guardian.transition"]
    assert [(e["from_mode"], e["to_mode"]) for e in transitions] == [
        ("ok", "brownout"),
        ("brownout", "ok"),
    ]
    assert all(e["cause"] for e in transitions)


def test_requests_during_a_killswitch_restart_wait_for_the_model(
    alice: httpx.Client, llm: LlamaCppProvider
) -> None:
    alice.post("/api/admin/guardian/drill", json={"action": "killswitch"})
    answer = alice.post(
        "/api/chat", json={"text": "Vad är huvudstaden i Sverige?", "temperature": 0}
    )
    assert answer.status_code == 200
    assert answer.json()["offline"] is False
    assert "Stockholm" in answer.json()["text"]


def test_low_disk_refuses_uploads_and_keeps_chat(
    make_settings: SettingsFactory, llm: LlamaCppProvider
) -> None:
    # The real sampler on the real data folder; "low" is set above what this disk has.
    settings = make_settings(
        guardian_enabled=True,
        guardian_interval_s=0.05,
        guardian={
            "disk_brownout_below_bytes": 10**18,
            "disk_brownout_exit_above_bytes": 2 * 10**18,
        },
    )
    with (
        serve_in_thread(create_app(settings, provider=llm)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        deadline = time.monotonic() + 30
        while client.get("/guardian/status").json()["probes"].get("disk") != "degraded":
            assert time.monotonic() < deadline, "the disk sentinel never degraded"
            time.sleep(0.05)
        upload = client.post("/api/chat", files={"file": ("notes.txt", b"x" * 1000)})
        binary = client.post(
            "/api/chat", content=b"\0" * 100, headers={"content-type": "application/octet-stream"}
        )
        chat = client.post("/api/chat", json={"text": "Hej!", "max_tokens": 4})
        probes = client.get("/guardian/status").json()["probes"]
    for refused in (upload, binary):
        assert refused.status_code == 507
        assert refused.json()["error"]["code"] == "insufficient-storage"
        assert int(refused.headers["retry-after"]) > 0
    assert chat.status_code == 200
    assert probes["disk"] in ("degraded", "hard-fail")
