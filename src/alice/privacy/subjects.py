"""Data subjects: the end users a client names, stored only as a keyed hash.

A client names the person a conversation is about with ``user`` (the native API's field,
or the OpenAI API's own ``user`` parameter): an e-mail address, a customer number,
anything. Alice keeps ``HMAC-SHA256(subject key, tenant NUL user)`` (hex, 32 chars) on the
conversation, never the identifier itself, so export and forget can find a person's
conversations while the database alone does not say who they are.

The subject key comes from ``ALICE_SUBJECT_KEY`` or a key file
(``<data_dir>/subject.key``, made 0600 on first start). It must be the same on every
replica and must not change (changing it loses the link to everyone's conversations):
the database keeps a check value of it (an HMAC of a constant, not the key) and a server
with another key refuses to start.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

import structlog
from sqlalchemy import Table, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from alice.errors import ConfigurationError
from alice.privacy.encryption import create_secret_file
from alice.store.database import Database
from alice.store.models import Meta, utcnow

__all__ = ["SUBJECT_KEY_FILE", "SubjectIndex", "check_subject_key", "read_subject_key"]

log = structlog.get_logger("alice.privacy")

SUBJECT_KEY_FILE = "subject.key"
_CHECK_FACT = "subject-key-check"
_meta: Table = Meta.__table__  # type: ignore[assignment]


def read_subject_key(path: Path, *, create: bool) -> bytes:
    """The subject key in ``path`` (64 hex characters); made if missing and ``create``."""
    if create and not path.exists() and create_secret_file(path, secrets.token_hex(32) + "\n"):
        log.info("subjects.key_file_created", path=str(path))
    try:
        return parse_subject_key(path.read_text(encoding="ascii"), source="ALICE_SUBJECT_KEY_FILE")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"invalid setting ALICE_SUBJECT_KEY_FILE: cannot read {path} ({exc})"
        ) from exc


def parse_subject_key(text: str, *, source: str) -> bytes:
    """A subject key: at least 32 bytes as hex.

    Raises:
        ConfigurationError: naming ``source``, never the key.
    """
    value = text.strip()
    try:
        key = bytes.fromhex(value)
    except ValueError:
        key = b""
    if len(key) < 32:
        raise ConfigurationError(
            f"invalid setting {source}: a subject key is at least 64 hex characters "
            "(make one with: python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    return key


class SubjectIndex:
    """Turns (tenant, user) into the stored subject reference."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def ref(self, tenant_id: str, user: str) -> str:
        """The subject reference of ``user`` in ``tenant_id``."""
        message = tenant_id.encode() + b"\0" + user.encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:32]

    @property
    def check_value(self) -> str:
        """A value that tells keys apart without revealing them."""
        return hmac.new(self._key, b"alice-subject-key-check", hashlib.sha256).hexdigest()[:16]


async def check_subject_key(database: Database, index: SubjectIndex) -> None:
    """Record the key's check value once; refuse a different key afterwards.

    Raises:
        ConfigurationError: this server's subject key is not the one the data was
            written with.
    """
    check = index.check_value

    def work(conn: Connection) -> str | None:
        stored = conn.execute(select(_meta.c.value).where(_meta.c.key == _CHECK_FACT)).scalar()
        if stored is None:
            try:
                with conn.begin_nested():
                    conn.execute(
                        insert(_meta), {"key": _CHECK_FACT, "value": check, "created_at": utcnow()}
                    )
            except IntegrityError:  # another replica recorded it first
                stored = conn.execute(
                    select(_meta.c.value).where(_meta.c.key == _CHECK_FACT)
                ).scalar()
        return stored

    try:
        stored = await database.run(work)
    except (SQLAlchemyError, OSError) as exc:
        log.warning("subjects.key_not_checked", error_class=type(exc).__name__)
        return
    if stored is not None and stored != check:
        raise ConfigurationError(
            "the database's data subjects were recorded with another subject key: give "
            "every replica the same ALICE_SUBJECT_KEY (or subject key file); a new key "
            "would lose the link between people and their conversations"
        )
