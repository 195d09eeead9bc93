"""The checks, one module per area; each registers its checks on import (`readiness.registry`)."""
