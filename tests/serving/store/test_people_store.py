"""People, versions, reveal and purge in the store, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from serving.store import (
    PeopleError,
    SignInRefused,
    StaleWarning,
    TransitionError,
    UserNotFound,
    WarningStore,
)
from serving.store.identity import EntityCipher, IdentityUnavailable
from serving.store.people import MAX_FAILED_SIGN_INS
from serving.store.privacy import RevealLimited

SECRET = "test-secret"
TASK = "wage-arrears"
PASSWORD = "correct horse battery"
KEYS = {"k-old": bytes(range(32)), "k-new": bytes(range(32, 64))}


@pytest.fixture()
def sealed(store_url: str) -> WarningStore:
    """A store that encrypts entity ids (the service's configuration)."""
    opened = WarningStore(store_url, SECRET, EntityCipher(KEYS, "k-new"))
    yield opened
    opened.close()


def _raise(store: WarningStore, scored: Callable, *entities: str, score: float = 0.9) -> list[str]:
    ids = store.record_scores(
        actor="key:scorer",
        task=TASK,
        model_name="riskloop-wage-arrears",
        model_version="1",
        results=[scored(entity, score, "red") for entity in entities],
    )
    return [warning_id for warning_id in ids if warning_id]


def test_departments_are_seeded_with_their_tasks(store: WarningStore) -> None:
    departments = {row["code"]: row for row in store.list_departments()}
    assert departments["labour_inspection"]["name_zh"] == "劳动保障监察大队"
    assert departments["labour_inspection"]["tasks"] == ["wage-arrears"]
    assert departments["anti_fraud"]["tasks"] == ["telecom-fraud"]
    assert len(departments["data_office"]["tasks"]) == len(departments["county_centre"]["tasks"])
    assert set(departments["county_centre"]["tasks"]) >= {"wage-arrears", "dispute-escalation"}


def test_users_create_sign_in_lock_disable(store: WarningStore) -> None:
    created = store.create_user(
        "alice", department="labour_inspection", role="officer", password=PASSWORD
    )
    assert created.role == "officer" and created.lang == "zh" and created.active
    with store.engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT password_hash FROM users").scalar()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert store.sign_in("alice", PASSWORD).name == "alice"
    with pytest.raises(SignInRefused) as caught:
        store.sign_in("nobody", PASSWORD)
    assert "wrong name or password" in str(caught.value) and caught.value.reason == "unknown user"
    for _ in range(MAX_FAILED_SIGN_INS):
        with pytest.raises(SignInRefused):
            store.sign_in("alice", "wrong password!!")
    assert store.get_user("alice").locked_until is None  # the limit is not yet passed
    with pytest.raises(SignInRefused):
        store.sign_in("alice", "wrong password!!")  # the sixth wrong password locks
    assert store.get_user("alice").locked_until is not None
    with pytest.raises(SignInRefused) as locked:
        store.sign_in("alice", PASSWORD)  # right password, still locked
    assert "locked" in locked.value.reason
    store.reset_password("alice", "a new long password")
    assert store.sign_in("alice", "a new long password").failed_attempts == 0
    store.disable_user("alice")
    with pytest.raises(SignInRefused, match="wrong name or password"):
        store.sign_in("alice", "a new long password")
    actions = [(row["actor"], row["action"]) for row in store.audit_rows()]
    assert ("system:cli", "user_created") in actions and ("user:alice", "sign_in") in actions
    assert actions.count(("user:alice", "sign_in_failed")) == MAX_FAILED_SIGN_INS + 3
    assert ("system:cli", "user_disabled") in actions


@pytest.mark.parametrize("name", ["bob\n", "Bob", "b", "1bob", "bob smith", "王"])
def test_a_user_name_outside_the_rule_is_refused_whole(store: WarningStore, name: str) -> None:
    """The rule holds for the whole name: a trailing newline is no part of a name."""
    with pytest.raises(PeopleError, match="invalid user name"):
        store.create_user(name, department="tax", role="officer", password=PASSWORD)
    assert store.list_users() == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"department": "nowhere", "role": "officer", "password": PASSWORD}, "unknown department"),
        ({"department": "tax", "role": "boss", "password": PASSWORD}, "unknown role"),
        ({"department": "tax", "role": "officer", "password": "short"}, "too weak"),
    ],
)
def test_bad_users_are_refused_and_nothing_is_written(
    store: WarningStore, kwargs: dict[str, str], message: str
) -> None:
    with pytest.raises(PeopleError, match=message):
        store.create_user("bob", **kwargs)
    assert store.list_users() == [] and store.audit_rows() == []
    with pytest.raises(UserNotFound):
        store.get_user("bob")


@pytest.mark.parametrize("name", ["a13812345678", "id330501199001011234", "tel.0572-2345678"])
def test_a_user_name_holding_an_id_is_refused(store: WarningStore, name: str) -> None:
    with pytest.raises(PeopleError, match="must not hold a phone") as refused:
        store.create_user(name, department="tax", role="officer", password=PASSWORD)
    assert name not in str(refused.value)
    assert store.list_users() == [] and store.audit_rows() == []


def test_an_id_typed_as_the_name_at_a_failed_sign_in_is_kept_as_a_fingerprint(
    store: WarningStore,
) -> None:
    """People type their phone or identity-card number (or a password) where the name goes:
    the refusal's audit row (append-only, never purged) names the actor by the typed name's
    keyed fingerprint, never the name, and an auditor finds its attempts by that actor."""
    for typed in ("13987654321", "330501198802021234", "13987654321x", "13987654321"):
        with pytest.raises(SignInRefused):
            store.sign_in(typed, PASSWORD)
    rows = store.audit_rows(actor=store.unknown_name_actor("13987654321"))
    assert [row["action"] for row in rows] == ["sign_in_failed"] * 2
    actors = [row["actor"] for row in store.audit_rows()]
    assert not any(digits in actor for actor in actors for digits in ("139876", "330501"))
    with pytest.raises(SignInRefused):
        store.sign_in("nobody.here", PASSWORD)  # an ordinary unknown name is not kept either
    assert store.audit_rows()[-1]["actor"] == store.unknown_name_actor("nobody.here")


def test_duplicate_user_is_refused(store: WarningStore) -> None:
    store.create_user("bob", department="tax", role="officer", password=PASSWORD)
    with pytest.raises(PeopleError, match="already exists"):
        store.create_user("bob", department="grid", role="admin", password=PASSWORD)
    assert [(u.name, u.department) for u in store.list_users()] == [("bob", "tax")]


def test_version_counts_changes_and_stale_forms_are_refused(
    store: WarningStore, scored: Callable
) -> None:
    (warning_id,) = _raise(store, scored, "E1")
    assert store.get_warning(warning_id)["version"] == 1
    _raise(store, scored, "E1", score=0.95)  # re-scored to a new score: a change
    assert store.get_warning(warning_id)["version"] == 2
    _raise(store, scored, "E1", score=0.95)  # the same score again: no change, forms stay good
    assert store.get_warning(warning_id)["version"] == 2
    store.add_feedback(
        warning_id,
        actor="user:sup",
        status="dispatched",
        department="labour_inspection",
        outcome=None,
        note=None,
        expected_version=2,
    )
    with pytest.raises(StaleWarning) as stale:
        store.add_feedback(
            warning_id,
            actor="user:other",
            status="closed",
            department=None,
            outcome="false_alarm",
            note=None,
            expected_version=2,
        )
    assert stale.value.changed_by == "user:sup" and stale.value.version == 3
    assert store.get_warning(warning_id)["status"] == "dispatched"  # nothing written
    with pytest.raises(TransitionError, match="note"):
        store.send_back(warning_id, actor="user:off", note=" ")
    back = store.send_back(
        warning_id, actor="user:off", note="not our employer", expected_version=3
    )
    assert (back["status"], back["department"], back["version"]) == ("open", None, 4)
    assert back["history"][-1]["note"] == "not our employer"


def test_a_step_held_to_the_warnings_holder_survives_a_re_score_not_a_re_route(
    store: WarningStore, scored: Callable
) -> None:
    """`expected_holder` (the status and department a permission was decided on): a re-score
    landing after the decision does not refuse the step, a colleague's step or re-route does."""
    (warning_id,) = _raise(store, scored, "E2")
    _raise(store, scored, "E2", score=0.95)  # re-scored after the decision: version 2
    step = {"actor": "user:sup", "outcome": None, "note": None}
    dispatched = store.add_feedback(
        warning_id,
        status="dispatched",
        department="labour_inspection",
        expected_holder=("open", None),
        **step,
    )
    assert (dispatched["status"], dispatched["version"]) == ("dispatched", 3)
    store.send_back(warning_id, actor="user:off", note="not our employer")
    with pytest.raises(StaleWarning):  # decided while labour inspection held it
        store.add_feedback(
            warning_id,
            status="in_progress",
            department=None,
            expected_holder=("dispatched", "labour_inspection"),
            **step,
        )
    assert store.get_warning(warning_id)["status"] == "open"  # nothing written


def test_reveal_decrypts_audits_and_limits(sealed: WarningStore, scored: Callable) -> None:
    (warning_id,) = _raise(sealed, scored, "91330100MA27XK9L2B")
    with pytest.raises(ValueError, match="10 characters"):
        sealed.reveal(warning_id, actor="user:a", purpose="short", limit=3)
    for _ in range(3):
        assert sealed.reveal(warning_id, actor="user:a", purpose="on-site visit", limit=3) == (
            "91330100MA27XK9L2B"
        )
    with pytest.raises(RevealLimited) as limited:
        sealed.reveal(warning_id, actor="user:a", purpose="on-site visit", limit=3)
    assert 3500 <= limited.value.retry_after <= 3600
    # the refused look is on the record too, naming the case and why
    (refusal,) = [row for row in sealed.audit_rows() if row["action"] == "access_refused"]
    assert refusal["actor"] == "user:a" and refusal["detail"]["attempted"] == "reveal"
    assert refusal["detail"]["warning_id"] == warning_id
    assert refusal["detail"]["rule"].startswith("reveal limit reached: 3 per hour")
    assert sealed.reveal(warning_id, actor="user:b", purpose="phone the employer", limit=3)
    reveals = [row for row in sealed.audit_rows() if row["action"] == "identity_reveal"]
    assert [(r["actor"], r["detail"]["purpose"]) for r in reveals] == [
        *[("user:a", "on-site visit")] * 3,
        ("user:b", "phone the employer"),
    ]
    assert all(r["detail"]["key_id"] == "k-new" for r in reveals)
    # the case page's reading: this warning's reveals only, oldest first, without the key id
    shown = sealed.reveals_of(warning_id)
    assert [(r["actor"], r["purpose"]) for r in shown] == [
        (r["actor"], r["detail"]["purpose"]) for r in reveals
    ]
    assert [r["at"] for r in shown] == [r["at"] for r in reveals]
    assert sealed.reveals_of("W-" + "0" * 32) == []


def test_concurrent_reveals_of_different_warnings_stay_within_the_limit(
    sealed: WarningStore, scored: Callable
) -> None:
    """One actor revealing several cases at the same moment: on PostgreSQL each reveal locked
    only its own warning, so concurrent reveals all counted the same earlier rows and passed
    the hourly limit together (6 of 12 with a limit of 3 over the API)."""
    warning_ids = _raise(sealed, scored, *[f"E-RACE-{i}" for i in range(12)])
    start = threading.Barrier(len(warning_ids))
    answers: list[str] = []

    def reveal(warning_id: str) -> None:
        start.wait()
        try:
            sealed.reveal(warning_id, actor="user:a", purpose="on-site visit", limit=3)
            answers.append("revealed")
        except RevealLimited:
            answers.append("limited")

    threads = [threading.Thread(target=reveal, args=(w,)) for w in warning_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == ["limited"] * 9 + ["revealed"] * 3
    reveals = [row for row in sealed.audit_rows() if row["action"] == "identity_reveal"]
    assert len(reveals) == 3


def test_the_warnings_own_id_written_in_a_note_or_purpose_is_stored_as_its_pseudonym(
    tmp_path: Path, scored: Callable
) -> None:
    """A person who revealed a resident's id (`2e2a13e7a0b7ccd5`, no phone or card shape for
    the scrubber to catch) and wrote it in a note or a reveal's purpose had it stored in
    clear. The store knows whose warning it is: that id becomes its pseudonym, like the
    id-shaped values, wherever the note or purpose is kept."""
    path = tmp_path / "own-id.db"
    entity = "2e2a13e7a0b7ccd5"
    with WarningStore(f"sqlite:///{path}", SECRET, EntityCipher(KEYS, "k-new")) as store:
        (warning_id,) = _raise(store, scored, entity)
        revealed = store.reveal(
            warning_id, actor="user:off", purpose=f"to call resident {entity}.", limit=5
        )
        assert revealed == entity
        for step in (
            {"status": "dispatched", "department": "labour_inspection", "note": f"{entity}: call"},
            {"status": "in_progress", "department": None, "note": f"called {entity}, no answer"},
        ):
            store.add_feedback(warning_id, actor="user:off", outcome=None, **step)
        store.send_back(warning_id, actor="user:off", note=f"not ours ({entity})")
        pseudonym = f"[id:{store.pseudonymise(entity)}]"
        notes = [event.get("note") for event in store.get_warning(warning_id)["history"]][1:]
        assert notes == [f"{pseudonym}: call", f"called {pseudonym}, no answer",
                         f"not ours ({pseudonym})"]  # fmt: skip
        purposes = [r["detail"]["purpose"] for r in store.audit_rows(warning_id=warning_id)
                    if r["action"] == "identity_reveal"]  # fmt: skip
        assert purposes == [f"to call resident {pseudonym}."]
    raw = b"".join(f.read_bytes() for f in tmp_path.iterdir() if f.name.startswith("own-id.db"))
    assert entity.encode() not in raw


def test_old_keys_still_decrypt_after_rotation(store_url: str, scored: Callable) -> None:
    with WarningStore(store_url, SECRET, EntityCipher({"k-old": KEYS["k-old"]}, "k-old")) as old:
        (warning_id,) = _raise(old, scored, "E-OLD")
    with WarningStore(store_url, SECRET, EntityCipher(KEYS, "k-new")) as rotated:
        (fresh_id,) = _raise(rotated, scored, "E-NEW")
        assert (
            rotated.reveal(warning_id, actor="user:a", purpose="rotation check", limit=9) == "E-OLD"
        )
        assert rotated.get_warning(fresh_id)["entity"] != "E-NEW"
    lost_key = EntityCipher({"k-new": KEYS["k-new"]}, "k-new")
    with WarningStore(store_url, SECRET, lost_key) as lost, pytest.raises(IdentityUnavailable):
        lost.reveal(warning_id, actor="user:a", purpose="after losing a key", limit=9)


def _close(store: WarningStore, warning_id: str, outcome: str = "false_alarm") -> None:
    store.add_feedback(
        warning_id, actor="user:sup", status="closed", department=None, outcome=outcome, note=None
    )


def test_purge_removes_old_features_and_ids_from_the_file(tmp_path: Path, scored: Callable) -> None:
    """SQLite: after the purge's checkpoint and vacuum the old values are gone from the bytes."""
    path = tmp_path / "purge.db"
    store = WarningStore(f"sqlite:///{path}", SECRET, EntityCipher(KEYS, "k-new"))
    marker = 987654.321  # a feature value found nowhere else
    old_ids = [
        warning_id
        for warning_id in store.record_scores(
            actor="key:scorer",
            task=TASK,
            model_name="m",
            model_version="1",
            results=[scored(f"OLD{i}", 0.9, "red", features={"marker": marker}) for i in range(3)],
        )
        if warning_id
    ]
    for warning_id in old_ids:
        _close(store, warning_id)
    with store.engine.connect() as connection:
        ciphers = [
            row[0] for row in connection.exec_driver_sql("SELECT entity_cipher FROM warnings")
        ]
    assert len(ciphers) == 3 and all(ciphers)
    assert str(marker).encode() in _file_bytes(tmp_path)  # the check below can fail
    audit_before = len(store.audit_rows())
    later = datetime.now(UTC) + timedelta(seconds=1)
    dry = store.purge(before=later, actor="system:cli", dry_run=True)
    assert (dry.scored_records, dry.warning_ids) == (3, 3)
    assert len(store.audit_rows()) == audit_before  # a dry run writes nothing
    done = store.purge(before=later, actor="system:cli")
    assert (done.scored_records, done.warning_ids) == (3, 3)
    raw = _file_bytes(tmp_path)
    assert str(marker).encode() not in raw
    assert not any(cipher.encode() in raw for cipher in ciphers)
    rows = store.audit_rows()
    assert len(rows) == audit_before + 1 and rows[-1]["action"] == "store_purge"
    assert rows[-1]["detail"] == {
        "before": later.isoformat(),
        "scored_records_features": 3,
        "warning_ids": 3,
    }
    frame = store.warnings_frame(task=TASK)
    assert frame["outcome"].tolist() == ["false_alarm"] * 3  # outcomes kept for monitoring
    assert store.scored_records(task=TASK)["score"].tolist() == [0.9] * 3
    again = store.purge(before=later, actor="system:cli")
    assert (again.scored_records, again.warning_ids) == (0, 0)
    store.close()
    assert os.path.getsize(path) > 0


def _file_bytes(folder: Path) -> bytes:
    """The database file with its WAL and shared-memory files."""
    return b"".join(
        candidate.read_bytes()
        for candidate in sorted(folder.iterdir())
        if candidate.name.startswith("purge.db")
    )


def test_purge_on_every_backend_then_reveal_says_the_id_is_gone(
    sealed: WarningStore, scored: Callable
) -> None:
    old, kept = _raise(sealed, scored, "GONE-1", "KEPT-1")
    _close(sealed, old)
    later = datetime.now(UTC) + timedelta(seconds=1)
    counts = sealed.purge(before=later, actor="system:cli")
    assert (counts.scored_records, counts.warning_ids) == (2, 1)  # `kept` is still open
    with pytest.raises(IdentityUnavailable, match="purged"):
        sealed.reveal(old, actor="user:a", purpose="after the purge", limit=5)
    assert sealed.reveal(kept, actor="user:a", purpose="an open case still", limit=5) == "KEPT-1"
    assert sealed.get_warning(old)["outcome"] == "false_alarm"
    # the refused reveal of the purged id is on the record, with why
    assert [row["action"] for row in sealed.audit_rows()][-3:] == [
        "store_purge",
        "access_refused",
        "identity_reveal",
    ]
    refusal = sealed.audit_rows()[-2]["detail"]
    assert refusal["warning_id"] == old and "purged" in refusal["rule"]


def test_an_auditor_belongs_to_the_data_office(store: WarningStore) -> None:
    """An auditor reads every department's cases and the audit log: an account elsewhere
    (a labour-inspection "auditor" reading residents' fraud warnings) is refused, nothing
    written; in the data office it is created."""
    for department in ("labour_inspection", "anti_fraud", "county_centre"):
        with pytest.raises(PeopleError, match="auditors belong to 'data_office'"):
            store.create_user("aud", department=department, role="auditor", password=PASSWORD)
    assert store.list_users() == []
    store.create_user("aud", department="data_office", role="auditor", password=PASSWORD)
    assert [(u.name, u.department, u.role) for u in store.list_users()] == [
        ("aud", "data_office", "auditor")
    ]
