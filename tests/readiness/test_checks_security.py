"""Security and compliance checks on small repositories: exact statuses, scores and
evidence locations. Real-looking keys are generated at run time (no literal here)."""

from __future__ import annotations

import random
import string
from pathlib import Path

from readiness.analysers import Analysers
from readiness.context import AuditContext
from tests.readiness.conftest import MakeRepo, check_outcome, context


def fake_key(prefix: str = "sk-proj-", length: int = 40, seed: int = 3) -> str:
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(rng.choice(alphabet) for _ in range(length))


def with_analysers(root: Path, *only: str, search_path: list[Path] | None = None) -> AuditContext:
    ctx = context(root)
    ctx.attach_analysers(
        Analysers.start(ctx.repo, timeout_s=120, only=set(only), search_path=search_path)
    )
    return ctx


# --- security.hardcoded-secrets ---------------------------------------------------------
def test_placeholders_in_fixtures_source_and_examples_are_not_leaks(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app/config.py": """
                OPENAI_API_KEY = "your-api-key-here"
                DB_PASSWORD = "changeme-please"
                client_secret = "<client-secret>"
                API_TOKEN = "${API_TOKEN}"
            """,
            "tests/test_client.py": """
                API_KEY = "sk-test-0000000000000000000000"
                token = "xxxxxxxxxxxxxxxxxxxx"
                password = "dummy-password-for-tests"
            """,
            ".env.example": "OPENAI_API_KEY=sk-your-key-here\nSECRET_KEY=replace-me\n",
            "docker-compose.yml": """
                services:
                  app:
                    image: app
                    environment:
                      - API_KEY=${API_KEY}
                      - LOG_LEVEL=info
            """,
        }
    )
    outcome = check_outcome("security.hardcoded-secrets", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert (
        outcome.summary == "no hard-coded secrets found; 10 placeholder or example value(s) ignored"
    )
    assert outcome.evidence == ()


def test_a_real_key_in_source_is_a_critical_fail_shown_masked(make_repo: MakeRepo) -> None:
    key = fake_key()
    root = make_repo(
        {
            "app/__init__.py": "",
            "app/llm.py": f'''
                """The provider client."""

                OPENAI_API_KEY = "{key}"
            ''',
        }
    )
    outcome = check_outcome("security.hardcoded-secrets", root)
    assert (outcome.status, outcome.score, outcome.severity) == ("fail", 0, "critical")
    assert [e.location for e in outcome.evidence] == ["app/llm.py:3"]
    assert outcome.evidence[0].note == (
        "literal: OPENAI_API_KEY = sk-p…(48 chars) (OpenAI API key format)"
    )
    assert key not in repr(outcome)
    assert key[8:20] not in repr(outcome)


def test_a_real_looking_key_in_a_test_fixture_is_a_leak(make_repo: MakeRepo) -> None:
    key = fake_key("ghp_", 36)
    root = make_repo({"tests/test_api.py": f'GITHUB_TOKEN = "{key}"\n'})
    outcome = check_outcome("security.hardcoded-secrets", root)
    assert outcome.status == "fail"
    assert [(e.location, e.strength) for e in outcome.evidence] == [("tests/test_api.py:1", "test")]
    assert key not in repr(outcome)


def test_secrets_in_compose_kubernetes_and_a_committed_env_file(make_repo: MakeRepo) -> None:
    token = fake_key("", 32, seed=11)
    password = fake_key("", 24, seed=12)
    root = make_repo(
        {
            "docker-compose.yml": f"""
                services:
                  app:
                    image: app
                    environment:
                      - LOG_LEVEL=info
                      - SERVICE_TOKEN={token}
            """,
            "k8s/secret.yaml": f"""
                apiVersion: v1
                kind: Secret
                metadata:
                  name: db
                stringData:
                  password: {password}
            """,
            ".env": f"DATABASE_PASSWORD={password}\nDEBUG=1\n",
        }
    )
    outcome = check_outcome("security.hardcoded-secrets", root)
    assert outcome.status == "fail"
    assert [(e.location, e.strength) for e in outcome.evidence] == [
        (".env:1", "config"),
        ("docker-compose.yml:6", "config"),
        ("k8s/secret.yaml:6", "config"),
    ]
    assert outcome.evidence[2].note.startswith("Kubernetes Secret: password = ")
    assert token not in repr(outcome)
    assert password not in repr(outcome)


def test_a_weak_hard_coded_password_in_source_warns(make_repo: MakeRepo) -> None:
    root = make_repo({"app/db.py": 'DB_PASSWORD = "hunter2hunter"\n'})
    outcome = check_outcome("security.hardcoded-secrets", root)
    assert (outcome.status, outcome.score, outcome.severity) == ("warn", 60, "high")
    assert [e.location for e in outcome.evidence] == ["app/db.py:1"]
    assert "hunter2hunter" not in repr(outcome)


def test_detect_secrets_finds_what_the_own_rules_do_not(make_repo: MakeRepo) -> None:
    secret = fake_key("", 24, seed=5)
    root = make_repo({"conf/service.ini": f"[db]\npassword = {secret}\n"})
    own = check_outcome("security.hardcoded-secrets", root)
    assert own.status == "pass"
    assert own.notes == (
        "detect-secrets did not run (analysers disabled): secrets were searched with the "
        "auditor's own rules only",
    )
    outcome = check_outcome("security.hardcoded-secrets", with_analysers(root, "detect-secrets"))
    assert outcome.status == "fail"
    assert [e.location for e in outcome.evidence] == ["conf/service.ini:2"]
    assert outcome.evidence[0].note.startswith("detect-secrets: Secret Keyword = ")
    assert secret not in repr(outcome)
    assert outcome.notes == ()


# --- security.endpoint-auth -------------------------------------------------------------
_AUTH = """
    from fastapi import Header, HTTPException
    import secrets


    def verify_api_key(x_api_key: str = Header()) -> str:
        if not secrets.compare_digest(x_api_key, "expected"):
            raise HTTPException(status_code=401)
        return x_api_key
"""


def test_one_unauthenticated_route_among_protected_ones(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app/auth.py": _AUTH,
            "app/main.py": """
                from fastapi import Depends, FastAPI

                from app.auth import verify_api_key

                app = FastAPI()


                @app.get("/health")
                def health() -> dict:
                    return {}


                @app.get("/items", dependencies=[Depends(verify_api_key)])
                def items() -> list:
                    return []


                @app.get("/items/{item_id}")
                def item(item_id: int, key: str = Depends(verify_api_key)) -> dict:
                    return {}


                @app.post("/items/{item_id}/tags")
                def tag(item_id: int, key: str = Depends(verify_api_key)) -> dict:
                    return {}


                @app.delete("/items/{item_id}")
                def delete(item_id: int) -> None:
                    return None
            """,
        }
    )
    outcome = check_outcome("security.endpoint-auth", root)
    assert (outcome.status, outcome.score) == ("warn", 75)
    assert outcome.summary == "3 of 4 non-public routes require authentication"
    assert outcome.evidence[0].location == "app/main.py:28"
    assert outcome.evidence[0].note.startswith("DELETE /items/{item_id}: no authentication")
    assert [e.location for e in outcome.evidence[1:]] == [
        "app/main.py:13",
        "app/main.py:18",
        "app/main.py:23",
    ]
    assert outcome.gaps == ("DELETE /items/{item_id} is open",)


def test_router_dependencies_and_include_router_protect_their_routes(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "svc/__init__.py": "",
            "svc/auth.py": _AUTH,
            "svc/chat.py": """
                from fastapi import APIRouter

                router = APIRouter()


                @router.post("/chat")
                def chat() -> dict:
                    return {}
            """,
            "svc/admin.py": """
                from fastapi import APIRouter, Depends

                from svc.auth import verify_api_key

                router = APIRouter(dependencies=[Depends(verify_api_key)])


                @router.delete("/users/{user_id}")
                def remove(user_id: int) -> None:
                    return None
            """,
            "svc/app.py": """
                from fastapi import Depends, FastAPI

                from svc import admin, chat
                from svc.auth import verify_api_key

                app = FastAPI()
                for module in (chat,):
                    app.include_router(module.router, dependencies=[Depends(verify_api_key)])
                app.include_router(admin.router)
            """,
        }
    )
    outcome = check_outcome("security.endpoint-auth", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert [(e.location, e.note) for e in outcome.evidence] == [
        ("svc/admin.py:5", "router is made with dependencies=[verify_api_key] (authenticates)"),
        ("svc/app.py:8", "chat.router is included with dependencies=[verify_api_key]"),
    ]


def test_a_stub_auth_dependency_protects_nothing(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app.py": """
                from fastapi import Depends, FastAPI

                app = FastAPI()


                def verify_token() -> None:
                    pass


                @app.post("/chat", dependencies=[Depends(verify_token)])
                def chat() -> dict:
                    return {}
            """,
        }
    )
    outcome = check_outcome("security.endpoint-auth", root)
    assert (outcome.status, outcome.score) == ("fail", 0)
    assert [e.location for e in outcome.evidence] == ["app.py:10"]


def test_auth_middleware_guards_every_route(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app.py": """
                import hmac

                from fastapi import FastAPI

                app = FastAPI()


                class ApiKeyMiddleware:
                    def __init__(self, app):
                        self.app = app

                    async def __call__(self, scope, receive, send):
                        if not hmac.compare_digest(scope["key"], "k"):
                            raise PermissionError
                        await self.app(scope, receive, send)


                app.add_middleware(ApiKeyMiddleware)


                @app.post("/chat")
                def chat() -> dict:
                    return {}
            """,
        }
    )
    outcome = check_outcome("security.endpoint-auth", root)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert [e.location for e in outcome.evidence] == ["app.py:18"]


def test_flask_login_required_and_no_routes(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "web.py": """
                from flask import Flask
                from flask_login import login_required

                app = Flask(__name__)


                @app.route("/profile")
                @login_required
                def profile():
                    return "me"
            """,
        }
    )
    assert check_outcome("security.endpoint-auth", root).status == "pass"
    empty = make_repo({"lib.py": "def f():\n    return 1\n"})
    assert check_outcome("security.endpoint-auth", empty).status == "unknown"


# --- security.rate-limiting -------------------------------------------------------------
def test_rate_limiting_wired_declared_or_missing(make_repo: MakeRepo) -> None:
    wired = make_repo(
        {
            "app.py": """
                from fastapi import FastAPI
                from slowapi import Limiter
                from slowapi.util import get_remote_address

                limiter = Limiter(key_func=get_remote_address)
                app = FastAPI()
                app.state.limiter = limiter
            """,
        }
    )
    outcome = check_outcome("security.rate-limiting", wired)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert outcome.evidence[0].location == "app.py:5"
    declared = make_repo(
        {
            "app.py": "from fastapi import FastAPI\napp = FastAPI()\n",
            "requirements.txt": "slowapi\n",
        }
    )
    assert check_outcome("security.rate-limiting", declared).status == "warn"
    bare = make_repo({"app.py": "from fastapi import FastAPI\napp = FastAPI()\n"})
    assert (check_outcome("security.rate-limiting", bare).status, 0) == ("fail", 0)


# --- security.static-analysis -----------------------------------------------------------
_UNSAFE = {
    "app/tasks.py": """
        import pickle
        import subprocess


        def run(command: str) -> None:
            subprocess.run(command, shell=True)


        def load(blob: bytes) -> object:
            return pickle.loads(blob)
    """,
}


def test_bandit_high_findings_fail_with_locations(make_repo: MakeRepo) -> None:
    root = make_repo(_UNSAFE)
    outcome = check_outcome("security.static-analysis", with_analysers(root, "bandit"))
    assert outcome.status == "fail"
    assert outcome.summary == "1 high-severity and 1 medium-severity finding(s) (bandit)"
    assert [e.location for e in outcome.evidence] == ["app/tasks.py:6", "app/tasks.py:10"]
    assert outcome.evidence[0].note.startswith("B602 subprocess_popen_with_shell_equals_true")
    assert outcome.notes == ()


def test_without_bandit_the_own_rules_run_and_say_so(make_repo: MakeRepo, tmp_path: Path) -> None:
    root = make_repo(_UNSAFE)
    ctx = with_analysers(root, "bandit", search_path=[tmp_path / "nothing"])
    outcome = check_outcome("security.static-analysis", ctx)
    assert (outcome.status, outcome.score) == ("fail", 30)
    assert outcome.summary == (
        "2 high-severity and 0 medium-severity finding(s) (the auditor's own rules)"
    )
    assert [(e.location, e.note) for e in outcome.evidence] == [
        ("app/tasks.py:6", "subprocess.run() runs a shell command line"),
        ("app/tasks.py:10", "pickle.loads() deserialises arbitrary objects"),
    ]
    assert outcome.notes[0].startswith("bandit not available: static analysis used")


def test_clean_code_passes_static_analysis(make_repo: MakeRepo) -> None:
    root = make_repo({"app.py": "import yaml\n\n\ndef read(t):\n    return yaml.safe_load(t)\n"})
    assert check_outcome("security.static-analysis", root).status == "pass"


# --- compliance -------------------------------------------------------------------------
def test_tenant_isolation(make_repo: MakeRepo) -> None:
    scoped = make_repo(
        {
            "svc/api.py": """
                from fastapi import FastAPI

                from svc.store import Store

                app = FastAPI()
                store = Store()


                @app.get("/docs/{doc_id}")
                def get(doc_id: str, tenant: str) -> dict:
                    return store.find(tenant_id=tenant, doc_id=doc_id)
            """,
            "svc/store.py": """
                class Store:
                    def find(self, tenant_id: str, doc_id: str) -> dict:
                        return self.query(tenant_id=tenant_id, doc_id=doc_id)

                    def query(self, **where: str) -> dict:
                        return dict(where)
            """,
            "tests/test_isolation.py": "def test_tenant_cannot_read_other_tenant():\n    pass\n",
        }
    )
    outcome = check_outcome("security.tenant-isolation", scoped)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert [e.location for e in outcome.evidence] == [
        "svc/api.py:11",
        "svc/store.py:3",
        "tests/test_isolation.py:1",
    ]
    flat = make_repo({"app.py": "from fastapi import FastAPI\napp = FastAPI()\n"})
    assert check_outcome("security.tenant-isolation", flat).status == "fail"


def test_pii_handling_wired_with_a_log_filter_or_only_documented(make_repo: MakeRepo) -> None:
    wired = make_repo(
        {
            "svc/pii.py": """
                import logging
                import re

                EMAIL = re.compile(r"[^@ ]+@[^@ ]+")


                def redact(text: str) -> str:
                    return EMAIL.sub("[email]", text)


                class RedactingFilter(logging.Filter):
                    def filter(self, record: logging.LogRecord) -> bool:
                        record.msg = redact(str(record.msg))
                        return True
            """,
            "svc/chat.py": """
                import logging

                from svc.pii import RedactingFilter, redact

                logging.getLogger().addFilter(RedactingFilter())


                def ask(prompt: str) -> str:
                    return redact(prompt)
            """,
        }
    )
    outcome = check_outcome("security.pii-handling", wired)
    assert (outcome.status, outcome.score) == ("pass", 100)
    documented = make_repo(
        {"docs/privacy.md": "# Privacy\n\n## PII\n\nWe never log personal data.\n"}
    )
    outcome = check_outcome("security.pii-handling", documented)
    assert (outcome.status, outcome.score) == ("fail", 25)
    assert [e.location for e in outcome.evidence] == ["docs/privacy.md:3"]


def test_data_retention(make_repo: MakeRepo) -> None:
    full = make_repo(
        {
            "svc/app.py": """
                import os

                from fastapi import FastAPI

                from svc.jobs import purge_expired

                app = FastAPI()
                RETENTION_DAYS = int(os.environ.get("RETENTION_DAYS", "30"))


                @app.delete("/conversations/{cid}")
                def delete(cid: str) -> None:
                    return None


                @app.on_event("startup")
                def start() -> None:
                    purge_expired(RETENTION_DAYS)
            """,
            "svc/jobs.py": """
                def purge_expired(days: int) -> int:
                    return days
            """,
        }
    )
    outcome = check_outcome("security.data-retention", full)
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert [e.location for e in outcome.evidence] == [
        "svc/app.py:11",
        "svc/jobs.py:1",
        "svc/app.py:8",
    ]
    none = make_repo({"app.py": "from fastapi import FastAPI\napp = FastAPI()\n"})
    assert check_outcome("security.data-retention", none).status == "fail"
