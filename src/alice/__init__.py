"""Alice: a self-hosted, production-grade AI assistant server."""

__version__ = "0.1.0"

__all__ = ["__version__"]
