"""Testing checks on small repositories."""

from __future__ import annotations

from readiness.model import Outcome

from .conftest import MakeRepo, check_outcome

APP = "def add(a, b):\n    return a + b\n"


def _where(outcome: Outcome) -> list[tuple[str, str]]:
    return [(e.location, e.note) for e in outcome.evidence]


def _unit_tests(count: int) -> str:
    return "\n".join(f"def test_add_{n}():\n    assert {n} + 1 == {n + 1}\n" for n in range(count))


def test_no_tests_fail(make_repo: MakeRepo) -> None:
    outcome = check_outcome("testing.test-suite", make_repo({"app.py": APP}))
    assert (outcome.status, outcome.score) == ("fail", 0)


def test_empty_and_always_skipped_tests_are_not_tests(make_repo: MakeRepo) -> None:
    tests = """
        import pytest


        def test_later():
            pass


        @pytest.mark.skip(reason="flaky")
        def test_flaky():
            assert False
    """
    outcome = check_outcome(
        "testing.test-suite", make_repo({"app.py": APP, "tests/test_a.py": tests})
    )
    assert (outcome.status, outcome.score) == ("fail", 0)
    assert _where(outcome) == [
        ("tests/test_a.py:4", "test_later has an empty body"),
        ("tests/test_a.py:9", "test_flaky is always skipped"),
    ]


def test_suite_of_several_kinds_passes(make_repo: MakeRepo) -> None:
    api = """
        from fastapi.testclient import TestClient


        def test_api(client: TestClient):
            assert client.get("/").status_code == 200
    """
    prop = """
        from hypothesis import given, strategies as st


        @given(st.integers())
        def test_add_commutes(n):
            assert n + 1 == 1 + n
    """
    root = make_repo(
        {
            "app.py": APP,
            "tests/unit/test_add.py": _unit_tests(10),
            "tests/integration/test_api.py": api,
            "tests/test_props.py": prop,
        }
    )
    outcome = check_outcome("testing.test-suite", root)
    assert (outcome.status, outcome.score) == ("pass", 90)
    assert outcome.summary == (
        "12 tests (unit 10, integration 1, property 1); 12.0 per 1,000 lines of source"
    )
    assert _where(outcome)[0] == ("tests/unit/test_add.py:1", "10 tests (unit)")
    assert outcome.gaps == ("no load tests",)


def test_few_tests_warn(make_repo: MakeRepo) -> None:
    root = make_repo({"app.py": APP, "tests/test_add.py": _unit_tests(2)})
    outcome = check_outcome("testing.test-suite", root)
    assert (outcome.status, outcome.score) == ("warn", 13)
    assert outcome.gaps[0] == "few tests for the code's size (2 for 2 lines)"


def test_go_tests_are_counted(make_repo: MakeRepo) -> None:
    go = "package add\n\nfunc TestAdd(t *testing.T) {}\n\nfunc TestSub(t *testing.T) {}\n"
    outcome = check_outcome("testing.test-suite", make_repo({"add_test.go": go}))
    assert outcome.status == "warn"
    assert _where(outcome) == [("add_test.go:3", "2 tests")]


WORKFLOW = """
    name: ci
    on:
      pull_request:
      push:
        branches: [main]
    jobs:
      test:
        runs-on: ubuntu-latest
        steps:
          - uses: actions/checkout@v4
          - run: pip install -e .[dev]
          - run: python -m pytest -q
"""


def test_workflow_running_pytest_on_pull_request_passes(make_repo: MakeRepo) -> None:
    outcome = check_outcome("testing.ci", make_repo({".github/workflows/ci.yml": WORKFLOW}))
    assert (outcome.status, outcome.score) == ("pass", 100)
    assert outcome.summary == "github CI runs the tests on pull_request and push"
    assert _where(outcome) == [
        (".github/workflows/ci.yml:3", "runs on pull_request"),
        (".github/workflows/ci.yml:4", "runs on push"),
        (".github/workflows/ci.yml:12", "runs `python -m pytest -q`"),
    ]


def test_make_test_is_followed_to_pytest(make_repo: MakeRepo) -> None:
    workflow = WORKFLOW.replace("python -m pytest -q", "make test")
    root = make_repo(
        {
            ".github/workflows/ci.yml": workflow,
            "Makefile": "test: deps\n\tpytest\n\ndeps:\n\tpip install .\n",
        }
    )
    outcome = check_outcome("testing.ci", root)
    assert outcome.status == "pass"
    assert [e.location for e in outcome.evidence] == [
        ".github/workflows/ci.yml:3",
        ".github/workflows/ci.yml:4",
        ".github/workflows/ci.yml:12",
        "Makefile:1",
        "Makefile:2",
    ]


def test_lint_only_ci_fails_and_no_ci_fails(make_repo: MakeRepo) -> None:
    lint = WORKFLOW.replace("python -m pytest -q", "ruff check .")
    linted = check_outcome("testing.ci", make_repo({".github/workflows/ci.yml": lint}))
    assert (linted.status, linted.score) == ("fail", 20)
    assert linted.gaps == (".github/workflows/ci.yml: no step reaches a test runner",)
    none = check_outcome("testing.ci", make_repo({"app.py": APP}))
    assert (none.status, none.score) == ("fail", 0)


def test_tests_only_after_merge_warn(make_repo: MakeRepo) -> None:
    after = WORKFLOW.replace("      pull_request:\n", "")
    outcome = check_outcome("testing.ci", make_repo({".github/workflows/ci.yml": after}))
    assert (outcome.status, outcome.score) == ("warn", 60)
    assert outcome.gaps == ("tests run only after merging to the listed branches",)


def test_tests_that_cannot_fail_the_build_warn(make_repo: MakeRepo) -> None:
    lenient = WORKFLOW.replace("python -m pytest -q", "pytest || true")
    outcome = check_outcome("testing.ci", make_repo({".github/workflows/ci.yml": lenient}))
    assert (outcome.status, outcome.score) == ("warn", 50)


def test_ci_script_without_a_known_trigger_warns_and_says_why(make_repo: MakeRepo) -> None:
    root = make_repo({".ci/run": "#!/bin/sh\nset -e\nmake test\n", "Makefile": "test:\n\tpytest\n"})
    outcome = check_outcome("testing.ci", root)
    assert (outcome.status, outcome.score) == ("warn", 50)
    assert [e.location for e in outcome.evidence] == [".ci/run:3", "Makefile:1", "Makefile:2"]
    assert outcome.gaps == (
        ".ci/run is a script in a CI folder, but no CI configuration in the repository says "
        "when it runs (on every push or pull request?)",
    )


SERVICE = """
    import tenacity


    class CircuitBreaker:
        def call(self, fn):
            return fn()


    @tenacity.retry
    def fetch():
        return CircuitBreaker().call(lambda: 1)
"""
ERROR_TESTS = """
    import pytest

    from service import CircuitBreaker


    def test_breaker_opens():
        with pytest.raises(RuntimeError):
            CircuitBreaker().call(lambda: 1 / 0)


    def test_missing_key(client):
        assert client.get("/chat").status_code == 401


    def test_happy(client):
        assert client.get("/").status_code == 200
"""


def test_error_paths_counted_and_untested_mechanisms_named(make_repo: MakeRepo) -> None:
    root = make_repo({"service.py": SERVICE, "tests/test_service.py": ERROR_TESTS})
    outcome = check_outcome("testing.error-paths", root)
    assert (outcome.status, outcome.score) == ("pass", 80)
    assert _where(outcome) == [
        ("tests/test_service.py:6", "test_breaker_opens: asserts a raise"),
        ("tests/test_service.py:11", "test_missing_key: asserts status 401"),
        ("service.py:1", "retry: tenacity"),
    ]
    assert outcome.gaps == ("service.py:1: retry (tenacity) is not exercised by any test",)


def test_happy_path_only_fails_and_no_tests_is_unknown(make_repo: MakeRepo) -> None:
    happy = "def test_happy(client):\n    assert client.get('/').status_code == 200\n"
    outcome = check_outcome(
        "testing.error-paths", make_repo({"service.py": SERVICE, "tests/test_s.py": happy})
    )
    assert (outcome.status, outcome.score) == ("fail", 0)
    assert outcome.gaps[0] == "only 0 of 1 tests exercise an error path"
    none = check_outcome("testing.error-paths", make_repo({"service.py": SERVICE}))
    assert none.status == "unknown"
