"""The audit filter reads a person's name as a sign-in does: `Zhao` and `user:Zhao` are zhao."""

from __future__ import annotations

from serving.store import WarningStore


def test_a_person_is_found_by_the_name_as_typed(store: WarningStore) -> None:
    store.audit(actor="user:zhao", action="audit_read", detail={"rows": 0})
    store.audit(actor="key:Zhao", action="audit_read", detail={"rows": 1})
    store.audit(actor="user:chen", action="audit_read", detail={"rows": 2})

    def actors(name: str) -> list[str]:
        return [row["actor"] for row in store.audit_rows(actor=name)]

    assert actors("user:Zhao") == actors(" user:ZHAO") == ["user:zhao"]
    # a bare name matches every kind: the person folded, an API key's name as written
    assert actors("Zhao") == ["user:zhao", "key:Zhao"]
    assert actors("user:chen") == ["user:chen"]
    assert actors("key:zhao") == []  # only a person's name folds
