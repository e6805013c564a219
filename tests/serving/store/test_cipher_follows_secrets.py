"""The service's cipher follows the secrets file: a rotation reaches it without a restart.

`EntityCipher.following` looks at the file (one `stat`) at most every `KEY_LOOK_INTERVAL_S`
as it encrypts, so a request's many warnings cost one look; a warning's `key_id` always names
the key that sealed its id, even when another thread sees a rotation in between; a file that
cannot be re-read keeps the keys already held. The clock here is a counter the test moves.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from models.secret_keys import load_secrets, rotate_encryption_key, secrets_path
from models.settings import get_settings
from serving.store import identity
from serving.store.identity import KEY_LOOK_INTERVAL_S, EntityCipher, IdentityUnavailable


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def after_a_look(self) -> None:
        self.now += KEY_LOOK_INTERVAL_S


@pytest.fixture()
def clock(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> _Clock:
    load_secrets()  # the secrets file, as the service makes it before its cipher
    fake = _Clock()
    monkeypatch.setattr(identity, "time", SimpleNamespace(monotonic=fake.monotonic))
    return fake


def _sealed(cipher: EntityCipher, entity_id: str) -> tuple[str, str]:
    """An id sealed the way `prepare_scores` does it: encrypt, then read the key id."""
    token = cipher.encrypt(entity_id, entity_hash=f"h-{entity_id}")
    return token, cipher.current_key_id


def test_new_ids_take_the_new_key_once_the_file_is_looked_at_and_old_ids_still_open(
    clock: _Clock,
) -> None:
    cipher = EntityCipher.following(get_settings())
    first = load_secrets()
    old_token, old_key = _sealed(cipher, "E-1")
    assert old_key == first.current_key_id

    new_key = rotate_encryption_key()
    assert _sealed(cipher, "E-2")[1] == old_key  # looked at less than an interval ago
    clock.after_a_look()
    new_token, key = _sealed(cipher, "E-3")
    assert key == new_key != old_key
    assert cipher.decrypt(old_token, old_key, entity_hash="h-E-1") == "E-1"
    assert cipher.decrypt(new_token, key, entity_hash="h-E-3") == "E-3"
    assert load_secrets().pseudonym_secret == first.pseudonym_secret  # never rotated


def test_a_batch_of_ids_costs_one_look_at_the_file(
    clock: _Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    cipher = EntityCipher.following(get_settings())
    looks: list[Path] = []
    stamp = identity._stamp

    def counted(path: Path) -> object:
        looks.append(path)
        return stamp(path)

    monkeypatch.setattr(identity, "_stamp", counted)
    clock.after_a_look()
    for i, nonce in enumerate(cipher.nonces(2000)):
        cipher.encrypt(f"E-{i}", entity_hash=f"h-{i}", nonce=nonce)
        assert cipher.current_key_id
    assert looks == [secrets_path()]


def test_a_key_id_names_the_key_its_thread_sealed_with_though_another_saw_a_rotation(
    clock: _Clock,
) -> None:
    """A request's thread seals an id; before it reads the key id for the row, a thread
    serving another request notices a rotation. The row must not say the new key."""
    cipher = EntityCipher.following(get_settings())
    sealed, read_key = threading.Event(), threading.Event()
    row: dict[str, str] = {}

    def prepare_a_row() -> None:
        row["token"] = cipher.encrypt("E-slow", entity_hash="h-slow")
        sealed.set()
        read_key.wait(timeout=30)
        row["key_id"] = cipher.current_key_id

    slow = threading.Thread(target=prepare_a_row)
    slow.start()
    assert sealed.wait(timeout=30)
    first_key = load_secrets().current_key_id
    new_key = rotate_encryption_key()
    clock.after_a_look()
    assert _sealed(cipher, "E-fast")[1] == new_key  # this thread saw the rotation
    read_key.set()
    slow.join(timeout=30)
    assert row["key_id"] == first_key
    assert cipher.decrypt(row["token"], row["key_id"], entity_hash="h-slow") == "E-slow"


def test_a_key_another_worker_sealed_with_first_is_looked_for_at_once(clock: _Clock) -> None:
    """Two workers follow the file each at its own pace: one may seal an id under the new key
    while the other, asked to reveal it, looked at the file less than an interval ago."""
    revealing = EntityCipher.following(get_settings())
    _sealed(revealing, "E-0")  # it has just looked
    rotate_encryption_key()
    sealing = EntityCipher.following(get_settings())
    token, key = _sealed(sealing, "E-new")
    assert revealing.decrypt(token, key, entity_hash="h-E-new") == "E-new"
    with pytest.raises(IdentityUnavailable, match="not in the secrets file"):
        revealing.decrypt(token, "k-never", entity_hash="h-E-new")


def test_a_file_that_cannot_be_re_read_keeps_the_keys_held_and_is_reported_once(
    clock: _Clock, caplog: pytest.LogCaptureFixture
) -> None:
    cipher = EntityCipher.following(get_settings())
    first_key = load_secrets().current_key_id
    token, _ = _sealed(cipher, "E-1")
    path = secrets_path()
    good = path.read_text(encoding="utf-8")
    path.write_text("{not json", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="riskloop.serving"):
        for _ in range(3):
            clock.after_a_look()
            assert _sealed(cipher, "E-2")[1] == first_key
    reports = [r.getMessage() for r in caplog.records if "could not be re-read" in r.getMessage()]
    assert len(reports) == 1 and "malformed" in reports[0] and first_key in reports[0]
    assert cipher.decrypt(token, first_key, entity_hash="h-E-1") == "E-1"

    path.write_text(good, encoding="utf-8")
    new_key = rotate_encryption_key()  # the file mended, and rotated
    clock.after_a_look()
    assert _sealed(cipher, "E-3")[1] == new_key


def test_a_cipher_made_from_keys_follows_no_file(clock: _Clock) -> None:
    """Tools and tests that hand the store their keys keep exactly those keys."""
    cipher = EntityCipher({"k-1": bytes(range(32))}, "k-1")
    rotate_encryption_key()
    clock.after_a_look()
    assert _sealed(cipher, "E-1")[1] == "k-1"


def test_another_installation_s_file_copied_in_is_not_taken_up(
    clock: _Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """A file copied in from another installation (or made anew) while the service ran had its
    keys taken up: warnings raised meanwhile were sealed under a key the restored backup lacks,
    and could never be revealed. Its pseudonym key (which `secrets rotate` never changes) tells
    it apart: the keys held are kept, and the log says why."""
    cipher = EntityCipher.following(get_settings())
    first_key = load_secrets().current_key_id
    path = secrets_path()
    ours = path.read_bytes()
    path.unlink()
    foreign = load_secrets(create=True)  # no store here: a file of another installation
    assert foreign.current_key_id != first_key
    with caplog.at_level(logging.WARNING, logger="riskloop.serving"):
        clock.after_a_look()
        token, key = _sealed(cipher, "E-1")
    assert key == first_key
    (report,) = [r.getMessage() for r in caplog.records if "could not be re-read" in r.getMessage()]
    assert "another installation" in report
    path.write_bytes(ours)  # the right file restored: its rotation is followed again
    new_key = rotate_encryption_key()
    clock.after_a_look()
    assert _sealed(cipher, "E-2")[1] == new_key
    assert cipher.decrypt(token, key, entity_hash="h-E-1") == "E-1"
