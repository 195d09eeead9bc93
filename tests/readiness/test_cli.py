"""``readiness`` and ``alice audit`` as a user runs them: the installed console scripts.

Exit codes: 0 ok, 1 below --fail-under, 2 bad input (one line on stderr, no traceback).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from readiness.cli import InputError, _write_stdout, load_weights, parse_header
from readiness.model import CATEGORIES
from tests.readiness.conftest import MakeRepo
from tests.readiness.fixtures import MATURE
from tests.readiness.report_support import RAW_KEY, SAMPLE_REPO

BIN = Path(sys.executable).parent
SECRETS = "security.hardcoded-secrets"


def _run(
    script: str, *args: str | Path, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ALICE_")}
    return subprocess.run(
        [str(BIN / script), *map(str, args)],
        env=clean,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def readiness(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return _run("readiness", *args)


def alice(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return _run("alice", *args)


def _json(*args: str | Path) -> dict[str, Any]:
    done = readiness(*args, "--format", "json", "--no-analysers")
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def _one_error_line(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("readiness: error: ")
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def repo(make_repo: MakeRepo) -> Path:
    return make_repo(SAMPLE_REPO)


# --- the report on stdout or in a file ----------------------------------------------------


def test_markdown_report_on_stdout_and_progress_on_stderr(repo: Path) -> None:
    done = readiness(repo, "--no-analysers")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"# Production readiness: {repo.name}\n")
    assert "## Appendix: every check" in done.stdout
    assert "readiness: " not in done.stdout.replace("# Production readiness: ", "")
    assert f"readiness: auditing {repo} (analysers off)" in done.stderr
    assert "app/broken.py could not be parsed" in done.stderr
    assert RAW_KEY not in done.stdout + done.stderr


def test_out_writes_the_file_and_nothing_to_stdout(repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.sarif"
    done = readiness(repo, "--no-analysers", "--format", "sarif", "--out", target)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert f"report written to {target}" in done.stderr
    log = json.loads(target.read_text(encoding="utf-8"))
    assert log["version"] == "2.1.0"


def test_unwritable_out_is_exit_2(repo: Path, tmp_path: Path) -> None:
    done = readiness(repo, "--no-analysers", "--out", tmp_path / "no" / "such" / "dir.md")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().splitlines()[-1].startswith("readiness: error: cannot write ")
    assert "Traceback" not in done.stderr


def test_a_reader_that_stops_early_is_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # `readiness . | head`: the pipe closes before the report is written out.
    read, write = os.pipe()
    os.close(read)
    with os.fdopen(write, "w") as stream:
        monkeypatch.setattr(sys, "stdout", stream)
        _write_stdout("x" * 1_000_000)  # more than any pipe buffer
        stream.write("the final flush goes to /dev/null")
        stream.flush()


def test_json_report_on_stdout_parses(repo: Path) -> None:
    document = _json(repo)
    assert document["schema_version"] == "1.0"
    assert document["target"] == str(repo.resolve())
    assert document["analysers"] == {"all": "disabled"}


def test_reports_do_not_depend_on_hash_order(make_repo: MakeRepo) -> None:
    # Evidence is collected in sets; two pieces on one line must still come out in the
    # same order whatever the interpreter's hash seed.
    files = {
        **MATURE,
        "app/media.py": 'STREAM_TYPES = ("text/event-stream", "application/x-ndjson")\n',
    }
    root = make_repo(files)
    outputs = set()
    for seed in ("1", "2", "3", "4"):
        done = subprocess.run(
            [str(BIN / "readiness"), str(root), "--no-analysers", "--format", "json"],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        document = json.loads(done.stdout)
        del document["generated_at"], document["duration_s"]
        outputs.add(json.dumps(document))
    assert len(outputs) == 1


# --- the gate -----------------------------------------------------------------------------


def test_fail_under_sets_the_exit_code(repo: Path) -> None:
    overall = _json(repo)["summary"]["overall"]
    assert overall is not None and 0 < overall < 100
    below = readiness(repo, "--no-analysers", "--fail-under", str(overall + 0.1))
    assert below.returncode == 1
    assert f"gate failed: overall score {overall:g} is below --fail-under" in below.stderr
    assert below.stdout.startswith("# Production readiness")  # the report is still written
    assert readiness(repo, "--no-analysers", "--fail-under", str(overall)).returncode == 0


def test_gate_weakest_fails_where_the_average_passes(repo: Path) -> None:
    summary = _json(repo)["summary"]
    overall, weakest = summary["overall"], summary["weakest"]
    assert weakest["score"] < overall
    threshold = str((weakest["score"] + overall) / 2)
    average = readiness(repo, "--no-analysers", "--fail-under", threshold)
    assert average.returncode == 0, average.stderr
    gated = readiness(repo, "--no-analysers", "--fail-under", threshold, "--gate", "weakest")
    assert gated.returncode == 1
    assert f"gate failed: weakest category {weakest['id']} {weakest['score']:g}" in gated.stderr


def test_weights_file_changes_the_overall_score(repo: Path, tmp_path: Path) -> None:
    default = _json(repo)
    scored = [c for c in default["categories"] if c["score"] is not None]
    only = scored[0]
    weights = tmp_path / "weights.toml"
    lines = [f"{c} = {100 if c == only['id'] else 0}" for c in CATEGORIES]
    weights.write_text("[weights]\n" + "\n".join(lines) + "\n", encoding="utf-8")
    weighted = _json(repo, "--weights", weights)
    assert weighted["summary"]["overall"] == only["score"]
    assert {c["id"]: c["weight"] for c in weighted["categories"]}[only["id"]] == 100.0


# --- suppressions -------------------------------------------------------------------------


def test_suppression_changes_the_result_and_shows_the_reason(repo: Path, tmp_path: Path) -> None:
    default = _json(repo)
    before = {c["id"]: c for c in default["checks"]}
    assert before[SECRETS]["status"] == "fail"
    assert SECRETS in [g["id"] for g in default["gaps"]]
    rules = tmp_path / "suppressions.toml"
    rules.write_text(
        f'[[suppress]]\ncheck = "{SECRETS}"\nreason = "demo key, revoked on 2026-11-01"\n',
        encoding="utf-8",
    )
    after = _json(repo, "--suppressions", rules)
    checks = {c["id"]: c for c in after["checks"]}
    assert checks[SECRETS]["suppressed"] is True
    assert checks[SECRETS]["suppression_reason"] == "demo key, revoked on 2026-11-01"
    assert SECRETS not in [g["id"] for g in after["gaps"]]
    assert after["summary"]["checks"]["suppressed"] == 1
    security = {c["id"]: c["score"] for c in after["categories"]}["security"]
    assert security > {c["id"]: c["score"] for c in default["categories"]}["security"]
    markdown = readiness(repo, "--no-analysers", "--suppressions", rules)
    assert "demo key, revoked on 2026-11-01" in markdown.stdout


def test_suppression_for_a_path_drops_that_evidence(repo: Path, tmp_path: Path) -> None:
    rules = tmp_path / "suppressions.toml"
    rules.write_text(
        f'[[suppress]]\ncheck = "{SECRETS}"\npath = "app/*"\nreason = "sample config"\n',
        encoding="utf-8",
    )
    checks = {c["id"]: c for c in _json(repo, "--suppressions", rules)["checks"]}
    assert checks[SECRETS]["suppression_reason"] == "sample config"
    other = tmp_path / "other.toml"
    other.write_text(
        f'[[suppress]]\ncheck = "{SECRETS}"\npath = "docs/*"\nreason = "docs only"\n',
        encoding="utf-8",
    )
    checks = {c["id"]: c for c in _json(repo, "--suppressions", other)["checks"]}
    assert checks[SECRETS]["suppressed"] is False  # a rule for docs/ cannot hide app/


def test_bad_suppressions_file_is_exit_2_with_one_line(repo: Path, tmp_path: Path) -> None:
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[[suppress]]\ncheck = "no.such-check"\nreason = "x"\n', encoding="utf-8")
    _one_error_line(readiness(repo, "--suppressions", unknown), "unknown check 'no.such-check'")
    broken = tmp_path / "broken.toml"
    broken.write_text("[[suppress]\n", encoding="utf-8")
    _one_error_line(readiness(repo, "--suppressions", broken), "is not valid TOML")
    _one_error_line(readiness(repo, "--suppressions", tmp_path / "missing.toml"), "cannot read")


# --- bad input ----------------------------------------------------------------------------


def test_missing_path_is_exit_2(tmp_path: Path) -> None:
    _one_error_line(readiness(tmp_path / "nowhere"), "does not exist")


def test_path_that_is_a_file_is_exit_2(repo: Path) -> None:
    _one_error_line(readiness(repo / "README.md"), "is not a folder")


def test_unknown_format_is_exit_2(repo: Path) -> None:
    _one_error_line(readiness(repo, "--format", "xml"), "unknown format 'xml'", "md, json, sarif")


def test_unknown_gate_is_exit_2(repo: Path) -> None:
    _one_error_line(readiness(repo, "--gate", "median"), "unknown gate 'median'")


def test_out_of_range_fail_under_is_exit_2(repo: Path) -> None:
    _one_error_line(readiness(repo, "--fail-under", "120"), "between 0 and 100")


def test_bad_weights_file_is_exit_2(repo: Path, tmp_path: Path) -> None:
    weights = tmp_path / "weights.toml"
    weights.write_text("[weights]\nllm = 20\nvibes = 5\n", encoding="utf-8")
    _one_error_line(readiness(repo, "--weights", weights), "unknown category 'vibes'")


def test_bad_header_is_exit_2(repo: Path) -> None:
    _one_error_line(readiness(repo, "--header", "no colon here"), "'Name: value'")


def test_usage_errors_are_one_line(repo: Path) -> None:
    _one_error_line(readiness(), "Missing argument")
    _one_error_line(readiness(repo, "--fail-under", "lots"), "--fail-under")


# --- alice audit ----------------------------------------------------------------------------


def test_alice_audit_runs_the_same_command(repo: Path, tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    done = alice("audit", repo, "--no-analysers", "--format", "json", "--out", target)
    assert done.returncode == 0, done.stderr
    document = json.loads(target.read_text(encoding="utf-8"))
    assert document["target"] == str(repo.resolve())
    named = alice("audit", "readiness", repo, "--no-analysers", "--fail-under", "100")
    assert named.returncode == 1
    assert named.stdout.startswith("# Production readiness")


def test_alice_audit_bad_input_is_exit_2(tmp_path: Path) -> None:
    done = alice("audit", tmp_path / "nowhere")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"readiness: error: {tmp_path / 'nowhere'} does not exist"
    ]


def test_alice_audit_list_is_still_the_audit_log() -> None:
    done = alice("audit", "list", "--help")
    assert done.returncode == 0
    assert "audit log" in done.stdout
    assert "--tenant" in done.stdout
    group = alice("audit", "--help")
    assert group.returncode == 0
    assert "readiness" in group.stdout and "list" in group.stdout


# --- the parsers behind the options ---------------------------------------------------------


def test_load_weights_accepts_known_categories(tmp_path: Path) -> None:
    file = tmp_path / "w.toml"
    file.write_text("[weights]\nllm = 20\nsecurity = 2.5\n", encoding="utf-8")
    assert load_weights(file) == {"llm": 20.0, "security": 2.5}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("llm = 20\n", "needs a [weights] table"),
        ("[weights]\nllm = -1\n", "llm must be a number >= 0"),
        ("[weights]\nllm = true\n", "llm must be a number >= 0"),
        ('[weights]\nllm = "high"\n', "llm must be a number >= 0"),
        ("[weights\n", "is not valid TOML"),
    ],
)
def test_load_weights_rejects_bad_files(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "w.toml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_weights(file)


def test_parse_header() -> None:
    assert parse_header("X-API-Key: abc: def") == ("X-API-Key", "abc: def")
    assert parse_header("Authorization:Bearer t") == ("Authorization", "Bearer t")
    for bad in ("nocolon", ": value", "Bad Name: x"):
        with pytest.raises(InputError):
            parse_header(bad)
