"""An Alice server with authentication on, and its operator key."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from alice.app import create_app
from alice.llm.providers.llamacpp import LlamaCppProvider
from alice.security.keys import generate_key
from tests.conftest import SettingsFactory
from tests.support.servers import serve_in_thread


@dataclass(frozen=True)
class SecureAlice:
    url: str
    operator_key: str

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def issue(self, tenant: str, scope: str = "chat") -> tuple[str, str]:
        """A new key for ``tenant`` (created if need be): (key, key id)."""
        with self.client(self.operator_key) as operator:
            operator.post("/api/admin/tenants", json={"name": tenant})
            answer = operator.post("/api/keys", json={"tenant": tenant, "scope": scope})
            assert answer.status_code == 201, answer.text
            body = answer.json()
            return body["key"], body["api_key"]["id"]


@pytest.fixture
def secure_alice(make_settings: SettingsFactory, llm: LlamaCppProvider) -> Iterator[SecureAlice]:
    operator_key = generate_key()
    settings = make_settings(auth="keys", bootstrap_admin_key=operator_key)
    with serve_in_thread(create_app(settings, provider=llm)) as url:
        yield SecureAlice(url=url, operator_key=operator_key)
