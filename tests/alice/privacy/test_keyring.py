"""The keyring: sealing, opening, key files, reloading, and refusing bad keys."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alice.errors import ConfigurationError, DecryptionError
from alice.privacy import cipher_from_settings
from alice.privacy.encryption import (
    PLAINTEXT,
    Keyring,
    OpenOnly,
    add_key_to_file,
    generate_key,
    key_id,
    parse_keys,
    read_key_file,
)
from tests.conftest import SettingsFactory

KEY_A = generate_key()
KEY_B = generate_key()


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=3000))
def test_any_text_comes_back_and_is_not_stored_as_is(text: str) -> None:
    keyring = Keyring([KEY_A])
    sealed, kid = keyring.seal(text)
    assert kid == key_id(KEY_A)
    assert keyring.open(sealed, kid) == text
    if len(text) >= 4:
        assert text not in sealed


def test_the_newest_key_seals_and_older_keys_still_open() -> None:
    old = Keyring([KEY_A])
    sealed, kid = old.seal("Anna bor på Storgatan 1.")
    both = Keyring([KEY_B, KEY_A])
    assert both.open(sealed, kid) == "Anna bor på Storgatan 1."
    resealed, new_kid = both.reseal(sealed, kid)
    assert new_kid == key_id(KEY_B) != kid
    assert Keyring([KEY_B]).open(resealed, new_kid) == "Anna bor på Storgatan 1."
    # Plaintext (key id None) is sealed by a reseal.
    assert both.reseal("klartext", None)[1] == key_id(KEY_B)


def test_a_missing_key_or_an_altered_value_is_a_decryption_error() -> None:
    sealed, kid = Keyring([KEY_A]).seal("hemligt")
    with pytest.raises(DecryptionError) as missing:
        Keyring([KEY_B]).open(sealed, kid)
    assert missing.value.key_id == kid and not missing.value.tampered
    altered = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    with pytest.raises(DecryptionError) as tampered:
        Keyring([KEY_A]).open(altered, kid)
    assert tampered.value.tampered
    assert tampered.value.status == 500
    assert "hemligt" not in tampered.value.message


def test_plaintext_mode_stores_as_is_and_refuses_sealed_values() -> None:
    assert PLAINTEXT.seal("hej") == ("hej", None)
    assert PLAINTEXT.open("hej", None) == "hej"
    sealed, kid = Keyring([KEY_A]).seal("hej")
    with pytest.raises(DecryptionError):
        PLAINTEXT.open(sealed, kid)
    assert OpenOnly(Keyring([KEY_A])).open(sealed, kid) == "hej"
    assert OpenOnly(Keyring([KEY_A])).seal("hej") == ("hej", None)


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("", "no encryption key"),
        ("# only a comment\n", "no encryption key"),
        ("not-a-key", "key 1 is not a Fernet key"),
        (f"{KEY_A},short", "key 2 is not a Fernet key"),
        (f"{KEY_A}\n{KEY_A}", "listed twice"),
    ],
)
def test_bad_keys_are_refused_naming_the_setting_never_the_key(text: str, part: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        parse_keys(text, source="ALICE_ENCRYPTION_KEYS")
    message = str(error.value)
    assert message.startswith("invalid setting ALICE_ENCRYPTION_KEYS")
    assert part in message
    assert KEY_A not in message


def test_the_key_file_is_made_once_owner_only_and_a_new_key_goes_first(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "encryption.keys"
    first = read_key_file(path, create=True)
    assert len(first) == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_key_file(path, create=True) == first  # not made again
    added = add_key_to_file(path)
    keys = read_key_file(path, create=False)
    assert [key_id(k) for k in keys] == [added, key_id(first[0])]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_running_keyring_picks_up_a_key_added_to_its_file(tmp_path: Path) -> None:
    path = tmp_path / "encryption.keys"
    serving = Keyring.from_file(path)
    before = serving.primary_id
    added = add_key_to_file(path)
    # Another process seals under the new key: the serving keyring opens it at once.
    sealed, kid = Keyring.from_file(path).seal("ny nyckel")
    assert kid == added
    assert serving.open(sealed, kid) == "ny nyckel"
    assert serving.ids == (added, before)
    assert serving.primary_id == added


def test_settings_pick_the_cipher(make_settings: SettingsFactory, tmp_path: Path) -> None:
    from_env = cipher_from_settings(make_settings(encryption_keys=f"{KEY_B},{KEY_A}"))
    assert isinstance(from_env, Keyring)
    assert from_env.ids == (key_id(KEY_B), key_id(KEY_A))
    from_file = cipher_from_settings(make_settings())
    assert isinstance(from_file, Keyring)
    assert (tmp_path / "data" / "encryption.keys").is_file()
    # Turned off after it was on: plaintext from now on, old values still readable.
    assert isinstance(cipher_from_settings(make_settings(encryption="off")), OpenOnly)
    fresh = make_settings(encryption="off", data_dir=tmp_path / "other")
    assert cipher_from_settings(fresh) is PLAINTEXT
    assert not (tmp_path / "other" / "encryption.keys").exists()


def test_a_malformed_key_setting_stops_start_up_with_one_line(
    make_settings: SettingsFactory,
) -> None:
    from alice.settings import load_settings

    with pytest.raises(ConfigurationError) as error:
        load_settings(_env_file=None, encryption_keys="nope")
    assert "ALICE_ENCRYPTION_KEYS" in str(error.value)
    assert "\n" not in str(error.value)
