"""External analysers: real runs of bandit, radon, detect-secrets and hadolint on small
repositories, plus fake executables for the paths a real tool rarely takes (a timeout,
garbage output, checkov's JSON)."""

from __future__ import annotations

import hashlib
import random
import string
from pathlib import Path

from readiness.analysers import Analysers
from readiness.repo import Repo
from tests.readiness.conftest import MakeRepo


def fake_key(prefix: str, length: int, seed: int = 7) -> str:
    """A random, real-looking key built at run time (no key literal in this file)."""
    rng = random.Random(seed)
    return prefix + "".join(
        rng.choice(string.ascii_uppercase + string.digits) for _ in range(length)
    )


def fake_tool(folder: Path, name: str, body: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / name
    script.write_text("#!/bin/sh\n" + body + "\n", encoding="utf-8")
    script.chmod(0o755)


def test_bandit_finds_shell_injection_in_source_not_in_tests(make_repo: MakeRepo) -> None:
    root = make_repo(
        {
            "app/run.py": """
                import subprocess


                def run(command: str) -> None:
                    subprocess.run(command, shell=True)
            """,
            "tests/test_run.py": """
                import subprocess

                subprocess.run("ls", shell=True)
            """,
        }
    )
    analysers = Analysers.start(Repo(root), timeout_s=120, only={"bandit"})
    result = analysers.result("bandit")
    assert result is not None
    assert result.files == 1  # the test file is not handed to bandit
    assert [(f.path, f.line, f.rule.split()[0], f.severity) for f in result.findings] == [
        ("app/run.py", 5, "B602", "high")
    ]
    assert analysers.status()["bandit"].startswith("ran (1 findings, ")


def test_radon_reports_complex_functions_with_their_complexity(make_repo: MakeRepo) -> None:
    branches = "\n".join(f"    if x == {i}:\n        return {i}" for i in range(24))
    root = make_repo({"app/logic.py": f"def decide(x):\n{branches}\n    return -1\n"})
    result = Analysers.start(Repo(root), timeout_s=120, only={"radon"}).result("radon")
    assert result is not None
    assert [(f.path, f.line, f.rule, f.value) for f in result.findings] == [
        ("app/logic.py", 1, "cc-D", 25.0)
    ]
    assert result.findings[0].message == "function decide: cyclomatic complexity 25 (rank D)"


def test_detect_secrets_reports_the_digest_never_the_value(make_repo: MakeRepo) -> None:
    key = fake_key("AKIA", 16)
    root = make_repo({"deploy/settings.ini": f"[aws]\naccess_key_id = {key}\n"})
    result = Analysers.start(Repo(root), timeout_s=120, only={"detect-secrets"}).result(
        "detect-secrets"
    )
    assert result is not None
    aws = [f for f in result.findings if f.rule == "AWS Access Key"]
    assert [(f.path, f.line) for f in aws] == [("deploy/settings.ini", 2)]
    assert aws[0].digest == hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()
    assert key not in repr(result)


def test_hadolint_lints_dockerfiles(make_repo: MakeRepo) -> None:
    root = make_repo({"Dockerfile": "FROM python\nRUN pip install flask\n"})
    result = Analysers.start(Repo(root), timeout_s=120, only={"hadolint"}).result("hadolint")
    assert result is not None
    rules = {(f.path, f.line, f.rule) for f in result.findings}
    assert ("Dockerfile", 1, "DL3006") in rules  # untagged base image
    assert ("Dockerfile", 2, "DL3042") in rules  # pip cache kept


def test_nothing_to_analyse_is_skipped(make_repo: MakeRepo) -> None:
    root = make_repo({"app.py": "x = 1\n"})
    analysers = Analysers.start(Repo(root), timeout_s=60, only={"hadolint"})
    assert analysers.status()["hadolint"] == "skipped: nothing to analyse"
    result = analysers.result("hadolint")
    assert result is not None
    assert result.findings == ()


def test_missing_and_disabled_analysers_are_reported(make_repo: MakeRepo, tmp_path: Path) -> None:
    root = make_repo({"app.py": "x = 1\n"})
    analysers = Analysers.start(
        Repo(root), timeout_s=60, only={"bandit", "checkov"}, search_path=[tmp_path / "empty"]
    )
    assert analysers.result("bandit") is None
    assert analysers.available("bandit") is False
    assert analysers.status() == {
        "detect-secrets": "disabled",
        "bandit": "not installed: pip install bandit",
        "hadolint": "disabled",
        "radon": "disabled",
        "checkov": "not installed (optional, heavy)",
    }


def test_an_analyser_past_the_deadline_is_killed_and_reported(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    root = make_repo({"app.py": "x = 1\n"})
    tools = tmp_path / "tools"
    fake_tool(tools, "bandit", "sleep 30")
    analysers = Analysers.start(Repo(root), timeout_s=1, only={"bandit"}, search_path=[tools])
    assert analysers.result("bandit") is None
    assert analysers.status()["bandit"] == "timed out after 1 s"


def test_unreadable_output_is_a_failure_with_the_tools_last_words(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    root = make_repo({"app.py": "x = 1\n"})
    tools = tmp_path / "tools"
    fake_tool(tools, "radon", "echo 'not json'; echo 'radon: boom' >&2; exit 2")
    analysers = Analysers.start(Repo(root), timeout_s=30, only={"radon"}, search_path=[tools])
    assert analysers.result("radon") is None
    assert analysers.status()["radon"] == "failed: exit 2: radon: boom"


def test_checkov_is_used_when_present(make_repo: MakeRepo, tmp_path: Path) -> None:
    root = make_repo({"main.tf": 'resource "aws_s3_bucket" "b" {\n  bucket = "x"\n}\n'})
    tools = tmp_path / "tools"
    report = (
        '{"check_type": "terraform", "results": {"failed_checks": [{"check_id": "CKV_AWS_18",'
        ' "check_name": "Ensure the S3 bucket has access logging enabled",'
        f' "file_path": "{root}/main.tf", "file_line_range": [1, 3], "severity": null}}]}}}}'
    )
    fake_tool(tools, "checkov", f"cat <<'EOF'\n{report}\nEOF")
    result = Analysers.start(
        Repo(root), timeout_s=30, only={"checkov"}, search_path=[tools]
    ).result("checkov")
    assert result is not None
    assert [(f.path, f.line, f.rule, f.severity) for f in result.findings] == [
        ("main.tf", 1, "CKV_AWS_18", "medium")
    ]
