"""OWASP API fuzzing: schemathesis against Alice's own OpenAPI schema, with a valid key.

Every operation gets generated valid and invalid requests on a real server with the real
model; no answer may be a 5xx, and every answer must match the schema (status, content
type, headers, body). Answers are kept short (a low max_tokens ceiling) to stay quick.

The operations are driven with hypothesis directly (schemathesis's pytest plugin does
not run under this pytest).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import checks

from alice.app import create_app
from alice.llm.providers.llamacpp import LlamaCppProvider
from alice.security.keys import generate_key
from tests.conftest import SettingsFactory
from tests.support.servers import serve_in_thread

KEY = generate_key()
# No 5xx, every answer as documented (status, content type, headers, body), and invalid
# input refused. Not positive_data_acceptance: schema-valid input can still be refused
# for reasons a schema cannot say (a dialogue whose last message is not the user's, an
# unknown conversation id), with a documented 4xx.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]
AUTH = {"Authorization": f"Bearer {KEY}"}
EXAMPLES = 20


@pytest.fixture
def alice_schema(
    make_settings: SettingsFactory, llm: LlamaCppProvider
) -> Iterator[schemathesis.BaseSchema]:
    alice = make_settings(
        auth="keys",
        bootstrap_admin_key=KEY,
        max_tokens_limit=8,
        default_max_tokens=4,
        max_message_chars=2000,
    )
    with serve_in_thread(create_app(alice, provider=llm)) as url:
        yield schemathesis.openapi.from_url(f"{url}/openapi.json", headers=AUTH)


@pytest.mark.parametrize(
    "mode", [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
)
def test_no_5xx_and_every_answer_matches_the_schema(
    alice_schema: schemathesis.BaseSchema, mode: schemathesis.GenerationMode
) -> None:
    operations = [result.ok() for result in alice_schema.get_all_operations()]
    assert len(operations) > 10
    failures: dict[str, str] = {}
    fuzzed = len(operations)
    for operation in operations:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=AUTH, checks=CHECKS)

        try:
            fuzz()
        except Unsatisfiable:
            # No input to make invalid (GET /health): nothing to fuzz in negative mode.
            assert mode == schemathesis.GenerationMode.NEGATIVE, operation.label
            fuzzed -= 1
        except Exception as exc:
            failures[operation.label] = f"{type(exc).__name__}: {str(exc)[:1200]}"
    assert not failures, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())
    assert fuzzed > 10
