"""``python -m alice``."""

from alice.cli import main

main()
