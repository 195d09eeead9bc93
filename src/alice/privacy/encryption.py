"""Encryption at rest of personal fields (message contents, conversation titles).

Values are sealed with Fernet (AES-128-CBC + HMAC-SHA256, `cryptography`) under the
newest key of a keyring and opened with whichever key sealed them: each sealed column has
a companion ``*_key_id`` column naming the key (a fingerprint, not the key), so a read
goes straight to the right key, the re-encryption job finds what is left on old keys
with an index, and a row whose key id is NULL is plaintext (written with encryption off
or before it existed).

Keys come from ``ALICE_ENCRYPTION_KEYS`` (comma-separated, newest first; for Kubernetes
secrets) or else from a key file (``ALICE_ENCRYPTION_KEY_FILE``, default
``<data_dir>/encryption.keys``: one key per line, newest first), created with one fresh
key on first start. Keys are never written to the database or a log. A keyring read from
a file notices a new key there (added by ``alice keys rotate-encryption``) within
`_RELOAD_EVERY_S` for writing and at once for reading, so a running Alice keeps serving
while its data is re-encrypted.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import structlog
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from alice.errors import ConfigurationError, DecryptionError

__all__ = [
    "KEY_FILE_NAME",
    "PLAINTEXT",
    "FieldCipher",
    "Keyring",
    "OpenOnly",
    "Plaintext",
    "add_key_to_file",
    "create_secret_file",
    "generate_key",
    "key_id",
    "parse_keys",
    "read_key_file",
]

log = structlog.get_logger("alice.privacy")

KEY_FILE_NAME = "encryption.keys"
_RELOAD_EVERY_S = 2.0
_KEY_FILE_HEADER = (
    "# Alice's encryption keys, newest first (one Fernet key per line).\n"
    "# Keep this file secret and backed up apart from the database: without it the\n"
    "# encrypted messages cannot be read. Rotate with: alice keys rotate-encryption\n"
)


class FieldCipher(Protocol):
    """Seals and opens personal fields; `Plaintext` and `Keyring` implement it."""

    @property
    def primary_id(self) -> str | None:
        """The key id new values are sealed under (None: stored as plaintext)."""
        ...

    def seal(self, text: str) -> tuple[str, str | None]:
        """The stored form of ``text`` and the id of the key that sealed it."""
        ...

    def open(self, stored: str, key: str | None) -> str:
        """The text of a stored value sealed under ``key`` (None: plaintext)."""
        ...

    def has_key(self, key: str) -> bool:
        """Whether values sealed under ``key`` can be opened."""
        ...


class Plaintext:
    """No encryption (``ALICE_ENCRYPTION=off``); reading sealed values is an error."""

    primary_id: str | None = None

    def seal(self, text: str) -> tuple[str, str | None]:
        """Stored as it is."""
        return text, None

    def open(self, stored: str, key: str | None) -> str:
        """Plaintext as it is; a sealed value cannot be opened without keys.

        Raises:
            DecryptionError: the value was sealed (encryption was on when it was stored).
        """
        if key is not None:
            raise DecryptionError(key_id=key)
        return stored

    def has_key(self, key: str) -> bool:
        """No keys at all."""
        return False


PLAINTEXT = Plaintext()


class OpenOnly:
    """Encryption turned off after it was on.

    New values are plaintext; values sealed before are still opened with the keys that
    remain configured.
    """

    primary_id: str | None = None

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring

    def seal(self, text: str) -> tuple[str, str | None]:
        """Stored as it is."""
        return text, None

    def open(self, stored: str, key: str | None) -> str:
        """Plaintext as it is, sealed values with the keyring."""
        return self._keyring.open(stored, key)

    def has_key(self, key: str) -> bool:
        """Whether the keyring has ``key``."""
        return self._keyring.has_key(key)


def generate_key() -> str:
    """A new random Fernet key (url-safe base64 of 32 bytes)."""
    return Fernet.generate_key().decode("ascii")


def key_id(key: str) -> str:
    """A key's public fingerprint: 12 hex characters of a SHA-256, not the key."""
    return hashlib.sha256(b"alice-encryption-key:" + key.encode("ascii")).hexdigest()[:12]


def parse_keys(text: str, *, source: str) -> list[str]:
    """Keys from comma- or line-separated text (``#`` comments), checked to be Fernet keys.

    Raises:
        ConfigurationError: no key, or one that is not a Fernet key (names ``source``,
            never the key).
    """
    keys: list[str] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        keys.extend(part.strip() for part in line.split(",") if part.strip())
    if not keys:
        raise ConfigurationError(f"invalid setting {source}: no encryption key")
    for number, key in enumerate(keys, 1):
        try:
            raw = base64.urlsafe_b64decode(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raw = b""
        if len(raw) != 32:
            raise ConfigurationError(
                f"invalid setting {source}: key {number} is not a Fernet key "
                "(32 url-safe base64 bytes; make one with: alice keys generate-encryption-key)"
            )
    if len(set(keys)) != len(keys):
        raise ConfigurationError(f"invalid setting {source}: a key is listed twice")
    return keys


def read_key_file(path: Path, *, create: bool) -> list[str]:
    """The keys in ``path``; with ``create``, a missing file is made with one new key.

    The file is created owner-only (0600) with an exclusive create, so processes starting
    together agree on one key.
    """
    if (
        create
        and not path.exists()
        and create_secret_file(path, _KEY_FILE_HEADER + generate_key() + "\n")
    ):
        log.info("encryption.key_file_created", path=str(path))
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(
            f"invalid setting ALICE_ENCRYPTION_KEY_FILE: cannot read {path} ({exc})"
        ) from exc
    return parse_keys(text, source="ALICE_ENCRYPTION_KEY_FILE")


def create_secret_file(path: Path, content: str) -> bool:
    """Create ``path`` (0600) holding ``content`` unless it exists; whether this call did.

    Written whole to a private temporary file first, then hard-linked into place (which
    fails if the name exists): processes starting together agree on one file, and none
    ever reads it half-written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o600)
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        os.unlink(temporary)


def add_key_to_file(path: Path) -> str:
    """Put a new key first in the key file (atomically); returns the new key's id."""
    keys = read_key_file(path, create=False)
    new = generate_key()
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(_KEY_FILE_HEADER + "\n".join([new, *keys]) + "\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)
    return key_id(new)


class Keyring:
    """Fernet keys, newest first: seals with the first, opens with the one that sealed.

    Built from a key file (``path``), it re-reads the file when it changes, so a key
    added by the rotation command is used without a restart.
    """

    def __init__(self, keys: Sequence[str], *, path: Path | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._mtime = _mtime(path) if path is not None else None
        self._next_check = time.monotonic() + _RELOAD_EVERY_S
        self._install(keys)

    @classmethod
    def from_file(cls, path: Path, *, create: bool = True) -> Keyring:
        """The keyring of a key file (made with one new key if missing and ``create``)."""
        return cls(read_key_file(path, create=create), path=path)

    def _install(self, keys: Sequence[str]) -> None:
        fernets = [Fernet(key) for key in keys]
        self._ids = tuple(key_id(key) for key in keys)
        self._by_id = dict(zip(self._ids, fernets, strict=True))
        self._primary = fernets[0]
        self._multi = MultiFernet(fernets)

    @property
    def primary_id(self) -> str:
        """The id of the key new values are sealed under."""
        self._maybe_reload()
        return self._ids[0]

    @property
    def ids(self) -> tuple[str, ...]:
        """Every key's id, newest first."""
        return self._ids

    def seal(self, text: str) -> tuple[str, str]:
        """Encrypt under the newest key; returns the token and that key's id."""
        self._maybe_reload()
        primary, kid = self._primary, self._ids[0]
        return primary.encrypt(text.encode("utf-8")).decode("ascii"), kid

    def open(self, stored: str, key: str | None) -> str:
        """Decrypt a value sealed under ``key`` (None: plaintext, returned as it is).

        Raises:
            DecryptionError: the key is not in this keyring, or the value was altered.
        """
        if key is None:
            return stored
        fernet = self._by_id.get(key)
        if fernet is None and self.reload():
            fernet = self._by_id.get(key)
        if fernet is None:
            raise DecryptionError(key_id=key)
        try:
            return fernet.decrypt(stored.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise DecryptionError(key_id=key, tampered=True) from exc

    def has_key(self, key: str) -> bool:
        """Whether ``key`` is in this keyring (re-reading the key file if it is not)."""
        return key in self._by_id or (self.reload() and key in self._by_id)

    def reseal(self, stored: str, key: str | None) -> tuple[str, str]:
        """A stored value sealed under the newest key (plaintext gets encrypted).

        Sealed values go through `MultiFernet.rotate`, which keeps their original
        timestamps.

        Raises:
            DecryptionError: the value's key is not in this keyring, or it was altered.
        """
        if key is None:
            return self.seal(stored)
        if not self.has_key(key):
            raise DecryptionError(key_id=key)
        try:
            token = self._multi.rotate(stored.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise DecryptionError(key_id=key, tampered=True) from exc
        return token, self._ids[0]

    def _maybe_reload(self) -> None:
        if self._path is not None and time.monotonic() >= self._next_check:
            self.reload()

    def reload(self) -> bool:
        """Re-read the key file if it changed; whether the keys changed."""
        if self._path is None:
            return False
        with self._lock:
            self._next_check = time.monotonic() + _RELOAD_EVERY_S
            mtime = _mtime(self._path)
            if mtime == self._mtime:
                return False
            try:
                keys = read_key_file(self._path, create=False)
            except ConfigurationError as exc:
                log.error("encryption.key_file_unreadable", reason=str(exc))
                return False
            before = self._ids
            self._install(keys)
            self._mtime = mtime
        if self._ids != before:
            log.info("encryption.keys_reloaded", primary=self._ids[0], keys=len(self._ids))
            return True
        return False


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None
