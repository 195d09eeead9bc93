"""A key lookup while the database is down is a 503 ``storage-unavailable`` with
``Retry-After`` (found by the PostgreSQL chaos drill: it was a 500)."""

from __future__ import annotations

import httpx

from alice.app import create_app
from alice.llm.providers.llamacpp import LlamaCppProvider
from alice.security.keys import generate_key
from tests.conftest import SettingsFactory
from tests.support.postgres import throwaway_cluster
from tests.support.servers import serve_in_thread


def test_an_unreachable_key_store_answers_503_not_500(
    make_settings: SettingsFactory, llm: LlamaCppProvider
) -> None:
    cluster = throwaway_cluster()
    url = cluster.__enter__()
    stopped = False
    try:
        admin = generate_key()
        settings = make_settings(auth="keys", bootstrap_admin_key=admin, database_url=url)
        with serve_in_thread(create_app(settings, provider=llm)) as base:
            headers = {"Authorization": f"Bearer {admin}"}
            assert httpx.get(f"{base}/api/conversations", headers=headers).status_code == 200
            cluster.__exit__(None, None, None)
            stopped = True
            # A key this replica has not cached yet must be looked up in the database.
            other = {"Authorization": f"Bearer {generate_key()}"}
            response = httpx.get(f"{base}/api/conversations", headers=other, timeout=30)
    finally:
        if not stopped:
            cluster.__exit__(None, None, None)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "storage-unavailable"
    assert "retry-after" in response.headers
