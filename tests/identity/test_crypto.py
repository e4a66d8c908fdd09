"""The encryption scheme's building blocks: key ids, rotation steps, the key file."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest

from shoptrack.identity import crypto
from shoptrack.identity.crypto import KeyMaterialError, Keyring, purpose_contact


def test_key_file_is_created_0600_and_replaced_atomically(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "shoptrack.keys"
    ring = Keyring.load_or_create(key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    rotated = ring.with_new_key()
    assert set(rotated.keys) == {ring.active_id, rotated.active_id}
    assert rotated.active_id != ring.active_id
    rotated.save(key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in key_file.parent.iterdir()] == ["shoptrack.keys"]  # no temp left
    assert Keyring.load(key_file).active_id == rotated.active_id


def test_ciphertexts_name_their_key_and_purpose_binds(tmp_path: Path) -> None:
    ring = Keyring.generate()
    sealed = ring.encrypt(b"anna@example.com", purpose_contact("s1", "ct_1"))
    assert b"anna" not in sealed
    assert Keyring.key_id_of(sealed) == ring.active_id
    with pytest.raises(KeyMaterialError):
        ring.decrypt(sealed, purpose_contact("s1", "ct_2"))
    newer = ring.with_new_key()
    assert newer.needs_reencryption(sealed)
    again = newer.reencrypt(sealed, purpose_contact("s1", "ct_1"))
    assert Keyring.key_id_of(again) == newer.active_id
    with pytest.raises(KeyMaterialError):
        ring.decrypt(again, purpose_contact("s1", "ct_1"))  # no file to learn the new key from
    assert newer.only_active().decrypt(again, purpose_contact("s1", "ct_1")) == b"anna@example.com"


def test_a_file_backed_keyring_follows_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "shoptrack.keys"
    reader = Keyring.load_or_create(key_file)
    old = reader.encrypt(b"x", b"p")
    rotated = Keyring.load(key_file).with_new_key()
    rotated.save(key_file)
    # An unknown key id makes it re-read the file at once.
    assert reader.decrypt(rotated.encrypt(b"y", b"p"), b"p") == b"y"
    assert reader.active_id == rotated.active_id
    rotated.only_active().save(key_file)
    reader.refresh()
    assert reader.decrypt(old, b"p") == b"x"  # keys it knew stay in memory
    # A writer switches to a new active key within the refresh interval.
    monkeypatch.setattr(crypto, "REFRESH_INTERVAL_S", 0.0)
    writer = Keyring.load(key_file)
    third = Keyring.load(key_file).with_new_key()
    time.sleep(0.01)
    third.save(key_file)
    assert Keyring.key_id_of(writer.encrypt(b"z", b"p")) == third.active_id


def test_blind_indexes_are_keyed_and_scoped() -> None:
    ring, other = Keyring.generate(), Keyring.generate()
    a = ring.contact_index("s1", "email", "anna@example.com")
    assert a == ring.contact_index("s1", "email", "anna@example.com")
    assert a != ring.contact_index("s2", "email", "anna@example.com")
    assert a != ring.contact_index("s1", "phone", "anna@example.com")
    assert a != other.contact_index("s1", "email", "anna@example.com")
    assert "anna" not in a and len(a) == 64


def test_malformed_key_material_is_refused() -> None:
    with pytest.raises(KeyMaterialError):
        Keyring.from_json(b'{"active": "k1", "keys": {"k1": "c2hvcnQ="}, "index_key": ""}')
    with pytest.raises(KeyMaterialError):
        Keyring.from_json(b"[]")


def test_a_truncated_or_corrupt_ciphertext_is_a_key_material_error() -> None:
    ring = Keyring.generate()
    sealed = ring.encrypt(b"someone@example.com", b"test")
    for broken in (b"", b"\x01", sealed[:5], sealed[:-1], b"\x01\x02\xff\xfe" + sealed[4:]):
        with pytest.raises(KeyMaterialError):
            ring.decrypt(broken, b"test")
