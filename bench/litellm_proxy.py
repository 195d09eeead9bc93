"""LiteLLM's proxy as a gateway benchmark target (optional: only when .venv-litellm exists).

LiteLLM lives in its own virtual environment (``bench/install_litellm.sh`` or
``python -m bench install-litellm`` creates it) so its many dependencies never touch
Alice's. It is run with one worker, no database, telemetry off, and every switch that
makes it read its bundled data files instead of fetching them from the internet. As a
safety net its HTTP(S) proxy variables point at a closed loopback port, with the
upstream's address exempt, so nothing it might still try leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from bench.machine import REPO_ROOT, package_versions
from bench.processes import HOST, ManagedProcess, base_env

__all__ = [
    "LITELLM_VENV",
    "install_litellm",
    "litellm_available",
    "litellm_process",
    "litellm_version",
]

LITELLM_VENV = REPO_ROOT / ".venv-litellm"
INSTALL_SCRIPT = Path(__file__).resolve().parent / "install_litellm.sh"

#: Keep LiteLLM offline and quiet (names from its source, 1.106.x).
OFFLINE_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    "LITELLM_MODE": "PRODUCTION",  # DEV would read a .env file
    "LITELLM_LOG": "ERROR",
    "LITELLM_TELEMETRY": "False",
    "DISABLE_ADMIN_UI": "True",
    "NO_DOCS": "True",
    "NO_REDOC": "True",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "no_proxy": "127.0.0.1,localhost",
}


def litellm_available() -> bool:
    """Whether ``.venv-litellm`` holds LiteLLM's command."""
    return (LITELLM_VENV / "bin" / "litellm").exists()


def litellm_version() -> str | None:
    """LiteLLM's installed version, when it is installed."""
    if not litellm_available():
        return None
    return package_versions(LITELLM_VENV / "bin" / "python").get("litellm")


def install_litellm() -> int:
    """Run ``bench/install_litellm.sh``; return its exit status."""
    return subprocess.run(["bash", str(INSTALL_SCRIPT)], check=False).returncode


def write_config(path: Path, *, model: str, api_base: str) -> Path:
    """A LiteLLM proxy config routing ``model`` to the upstream at ``api_base``.

    JSON is YAML, so no YAML library is needed here.
    """
    config = {
        "model_list": [
            {
                "model_name": model,
                "litellm_params": {
                    "model": f"openai/{model}",
                    "api_base": api_base,
                    "api_key": "sk-bench",
                },
            }
        ],
        "litellm_settings": {"telemetry": False, "drop_params": True, "request_timeout": 60},
        "general_settings": {"disable_spend_logs": True},
    }
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def litellm_process(
    *, port: int, model: str, api_base: str, master_key: str, work_dir: Path, log_dir: Path
) -> ManagedProcess:
    """LiteLLM's proxy on 127.0.0.1:``port``, one worker, routing ``model`` upstream.

    LiteLLM refuses to start without a master key; clients send it as a bearer token.
    """
    config = write_config(work_dir / "litellm-config.yaml", model=model, api_base=api_base)
    argv = [
        str(LITELLM_VENV / "bin" / "litellm"),
        "--config",
        str(config),
        "--host",
        HOST,
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    return ManagedProcess(
        "litellm",
        argv,
        env=base_env({**OFFLINE_ENV, "LITELLM_MASTER_KEY": master_key}),
        log_dir=log_dir,
        cwd=work_dir,
    )
