"""Each account's latest sign-in, read from the audit log on SQLite and PostgreSQL alike (the
people page's column: a dormant account is one for an administrator to disable)."""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime

from serving.store import SignInRefused, WarningStore

PASSWORD = "correct horse battery"


def test_the_latest_sign_in_of_each_account_and_none_for_an_account_never_signed_in(
    store: WarningStore,
) -> None:
    for name in ("wang", "li", "zhao"):
        store.create_user(name, department="labour_inspection", role="officer", password=PASSWORD)
    before = datetime.now(UTC)
    store.sign_in("wang", PASSWORD)
    store.sign_in("wang", PASSWORD)
    latest = datetime.now(UTC)
    with suppress(SignInRefused):  # a failed sign-in is no sign-in
        store.sign_in("li", "not the password at all")
    store.audit(actor="key:ingest", action="sign_in")  # not a person's
    found = store.last_sign_ins()
    assert set(found) == {"wang"}
    assert before <= found["wang"] <= latest and found["wang"].tzinfo is not None
    moments = [
        datetime.fromisoformat(str(row["at"]))
        for row in store.audit_rows()
        if row["action"] == "sign_in" and row["actor"] == "user:wang"
    ]
    assert len(moments) == 2 and found["wang"] == max(moments) > min(moments)
