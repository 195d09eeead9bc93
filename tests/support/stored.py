"""Read what Alice stored in a SQLite data folder, as an operator with the key file would.

Message contents and titles are sealed at rest; SQL run here can open them with
``opened(content, content_key)``, which decrypts with the data folder's key file.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alice.privacy.encryption import KEY_FILE_NAME, Keyring


def stored_rows(data_dir: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    """Rows of ``sql`` on ``data_dir/alice.db``; ``opened(value, key)`` decrypts."""
    key_file = data_dir / KEY_FILE_NAME
    keyring = Keyring.from_file(key_file, create=False) if key_file.exists() else None

    def opened(value: str, key: str | None) -> str:
        if key is None:
            return value
        assert keyring is not None, "sealed values but no key file"
        return keyring.open(value, key)

    with sqlite3.connect(data_dir / "alice.db") as conn:
        conn.create_function("opened", 2, opened, deterministic=True)
        return conn.execute(sql, args).fetchall()
