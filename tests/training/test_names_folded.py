"""Names as people type them, after sign-in began to trim user names and fold them to lower
case (a QA re-check).

Tries at one unknown name typed in other cases or with blanks were audited as different
actors (the fingerprint was of the name as typed).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.store import SignInRefused, WarningStore

PASSWORD = "correct horse battery"


def test_tries_at_one_unknown_name_in_any_case_are_one_actor(isolated_env: Path) -> None:
    with WarningStore.from_settings() as store:
        for typed in ("ghost", "Ghost", "GHOST", " ghost\t"):
            with pytest.raises(SignInRefused):
                store.sign_in(typed, PASSWORD)
        actors = {row["actor"] for row in store.audit_rows() if row["action"] == "sign_in_failed"}
        assert actors == {store.unknown_name_actor("ghost")}
