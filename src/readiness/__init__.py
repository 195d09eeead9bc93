"""Production-readiness auditor: scores a repository (and a running deployment).

A separate package that imports nothing from Alice, so it audits any repository.
Entry points: ``readiness PATH`` and ``alice audit PATH`` (`readiness.cli`), or
`run_audit` from Python.
"""

from readiness.context import AuditOptions
from readiness.engine import run_audit
from readiness.model import AuditReport

__all__ = ["AuditOptions", "AuditReport", "__version__", "run_audit"]

__version__ = "1.0.0"
