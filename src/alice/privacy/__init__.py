"""Privacy: encryption at rest, PII masking, data subjects, GDPR, retention, audit."""

from __future__ import annotations

from typing import TYPE_CHECKING

from alice.privacy.encryption import PLAINTEXT, FieldCipher, Keyring, OpenOnly, parse_keys

if TYPE_CHECKING:
    from alice.privacy.subjects import SubjectIndex
    from alice.settings import Settings

__all__ = ["FieldCipher", "Keyring", "cipher_from_settings", "subject_index_from_settings"]


def cipher_from_settings(settings: Settings, *, create: bool = True) -> FieldCipher:
    """The cipher the settings ask for: keys from the setting, else the key file.

    With ``ALICE_ENCRYPTION=off`` new values are stored as plaintext, and values sealed
    while it was on are still read with whatever keys remain configured.

    Raises:
        ConfigurationError: a key is malformed or the key file cannot be read.
    """
    keyring: Keyring | None = None
    if settings.encryption_keys is not None:
        keys = parse_keys(
            settings.encryption_keys.get_secret_value(), source="ALICE_ENCRYPTION_KEYS"
        )
        keyring = Keyring(keys)
    elif settings.encryption == "on" or settings.resolved_key_file.exists():
        keyring = Keyring.from_file(settings.resolved_key_file, create=create)
    if settings.encryption == "off":
        # Values sealed while it was on stay readable with the keys still configured.
        return PLAINTEXT if keyring is None else OpenOnly(keyring)
    assert keyring is not None  # noqa: S101 - "on" always builds one above
    return keyring


def subject_index_from_settings(settings: Settings, *, create: bool = True) -> SubjectIndex:
    """The keyed hash of end-user ids: ``ALICE_SUBJECT_KEY``, else the subject key file.

    Raises:
        ConfigurationError: the key is malformed or the file cannot be read.
    """
    # Imported here: alice.store imports this package's encryption module.
    from alice.privacy.subjects import SubjectIndex, parse_subject_key, read_subject_key

    if settings.subject_key is not None:
        key = parse_subject_key(settings.subject_key.get_secret_value(), source="ALICE_SUBJECT_KEY")
    else:
        key = read_subject_key(settings.resolved_subject_key_file, create=create)
    return SubjectIndex(key)
