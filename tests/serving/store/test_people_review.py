"""An outside security review of people, sessions and privacy, each finding as a real store
(SQLite, or PostgreSQL too when the session has one), the real token signer and the console's
real session book.

- a disabled account's API token came back when the account was enabled again;
- display names took raw identity-card and phone numbers, shown on every case timeline;
- a name typed at a failed sign-in was audited verbatim, control characters and all;
- the note scrubber and a case's own id typed in full width;
- passwords of one character repeated, holding the user name, or reset to the current one;
- a new sign-in in the same browser left the previous session live;
- a lockout's time in the audit detail was UTC beside the city's times.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from serving.console.sessions import SessionBook
from serving.sessions import SessionInvalid, SessionSigner
from serving.store import PeopleError, SignInRefused, WarningStore
from serving.store.identity import EntityCipher
from serving.store.people import MAX_FAILED_SIGN_INS, typed_user_name

PASSWORD = "correct horse battery"
SECRET = "test-secret"
KEYS = {"k-1": bytes(range(32))}


@pytest.fixture()
def chen(store: WarningStore) -> WarningStore:
    """The store with one officer, chen."""
    store.create_user("chen", department="labour_inspection", role="officer", password=PASSWORD)
    return store


def test_a_disabled_accounts_token_stays_ended_when_it_is_enabled_again(
    chen: WarningStore,
) -> None:
    """`POST /v1/session` -> T; `users disable chen` -> T 401; `users enable chen` -> T was 200
    again. The disable now changes the credential stamp T carries, for good; a new sign-in
    after the enable works."""
    signer = SessionSigner("session key")
    user = chen.sign_in("chen", PASSWORD)
    token, _ = signer.issue(user.name, stamp=user.credential_stamp)
    assert signer.actor(token, chen).name == "chen"
    chen.disable_user("chen")
    with pytest.raises(SessionInvalid, match="account disabled"):
        signer.actor(token, chen)
    chen.enable_user("chen")
    with pytest.raises(SessionInvalid, match="sign in again"):
        signer.actor(token, chen)
    again = chen.sign_in("chen", PASSWORD)
    fresh, _ = signer.issue(again.name, stamp=again.credential_stamp)
    assert signer.actor(fresh, chen).name == "chen"
    # a second disable ends the new token too
    chen.disable_user("chen")
    chen.enable_user("chen")
    with pytest.raises(SessionInvalid):
        signer.actor(fresh, chen)


def test_a_disable_ends_the_console_sessions_at_once(chen: WarningStore) -> None:
    """The console ended a disabled person's session only when their cookie came back while
    disabled: enabled in between, the old cookie answered again. The disable ends it in the
    store, counted in its audit row."""
    book = SessionBook(chen.engine, idle_s=600, absolute_s=3600)
    cookie, _ = book.start("chen")
    chen.disable_user("chen")
    chen.enable_user("chen")
    assert book.check(cookie) == (None, "disabled")
    (row,) = [r for r in chen.audit_rows() if r["action"] == "user_disabled"]
    assert row["detail"] == {"user": "chen", "sessions_ended": 1}


@pytest.mark.parametrize(
    "display_name",
    [
        "张三 330502199001011234",
        "13812345678",
        "王五 １３８１２３４５６７８",  # full-width digits, as a Chinese input method types them
        "李四 0572-2345678",
    ],
)
def test_a_display_name_holding_an_identifier_is_refused(
    store: WarningStore, display_name: str
) -> None:
    with pytest.raises(PeopleError, match="must not hold a phone, identity-card or account"):
        store.create_user(
            "idc",
            department="labour_inspection",
            role="officer",
            password=PASSWORD,
            display_name=display_name,
        )
    assert store.list_users() == []
    created = store.create_user(
        "idc", department="labour_inspection", role="officer", password=PASSWORD,
        display_name="张三 (2 号窗口)",
    )  # fmt: skip
    assert created.display_name == "张三 (2 号窗口)"


FORGED_ROW = 'evil2\n2026-12-05T09:00:00+08:00\tuser:wang\tidentity_reveal\t-\t{"x": 1}'


@pytest.mark.parametrize("typed", [FORGED_ROW, "wang\u202e\u2066x\\", "nobody"])
def test_a_name_typed_at_a_failed_sign_in_is_audited_on_one_clean_line(
    chen: WarningStore, typed: str
) -> None:
    """The same refusal as for any unknown name (nothing told), and an audit actor that is the
    name's keyed fingerprint, never the name, so `riskloop audit` keeps one row a line."""
    with pytest.raises(SignInRefused) as refused:
        chen.sign_in(typed, PASSWORD)
    with pytest.raises(SignInRefused) as unknown:
        chen.sign_in("nobody-at-all", PASSWORD)
    assert str(refused.value) == str(unknown.value)
    assert refused.value.reason == "unknown user"
    actor = next(r["actor"] for r in chen.audit_rows() if r["action"] == "sign_in_failed")
    assert actor == chen.unknown_name_actor(typed_user_name(typed))
    assert actor.isprintable() and "\n" not in actor and "\t" not in actor


def test_a_long_name_at_a_failed_sign_in_is_audited_as_a_short_fingerprint(
    chen: WarningStore,
) -> None:
    """Unknown names never lock, so each may write a row: the row's actor is the name's
    fingerprint, of fixed length, and holds no fragment of an identity-card number in it."""
    typed = "x" * 90 + "330502199001011234" + "\n" * 500
    with pytest.raises(SignInRefused):
        chen.sign_in(typed, PASSWORD)
    (actor,) = [r["actor"] for r in chen.audit_rows() if r["action"] == "sign_in_failed"]
    assert len(actor) == len("user:?") + 16
    assert "330502" not in actor and "19900101" not in actor


def test_a_lockout_is_audited_in_the_citys_time(chen: WarningStore) -> None:
    """`riskloop audit` prints each row's time with +08:00; the lockout's reason said UTC."""
    moment = datetime(2026, 12, 5, 4, 29, 10, tzinfo=UTC)
    for _ in range(MAX_FAILED_SIGN_INS + 1):
        with pytest.raises(SignInRefused):
            chen.sign_in("chen", "wrong password!!", now=moment, lockout=timedelta(minutes=15))
    with pytest.raises(SignInRefused) as locked:
        chen.sign_in("chen", PASSWORD, now=moment + timedelta(minutes=1))
    reasons = [r["detail"]["reason"] for r in chen.audit_rows() if r["action"] == "sign_in_failed"]
    assert reasons[-2] == "wrong password; locked until 2026-12-05T12:44:10+08:00"
    assert reasons[-1] == locked.value.reason == "account locked until 2026-12-05T12:44:10+08:00"


@pytest.mark.parametrize(
    ("password", "needle"),
    [
        ("aaaaaaaaaaaa", "repeats one pattern"),
        ("abcabcabcabc", "repeats one pattern"),
        ("111111222222", "only 2 different characters"),
        ("aabbccaabbcc1", "only 4 different characters"),
        ("Chen-is-the-best-1", "holds the user name"),
        (" " * 12, "only blanks"),  # not "use at least 12 characters (got 12)"
        ("123456789012", "runs along the digits"),
        ("ZYXWVUTSRQPO", "runs along the digits, the alphabet"),
        ("qwertyuiopqw", "keyboard row"),
    ],
)
def test_weak_passwords_are_refused_on_create_and_reset(
    chen: WarningStore, password: str, needle: str
) -> None:
    with pytest.raises(PeopleError, match=needle) as created:
        chen.create_user(
            "chen2", department="labour_inspection", role="officer", password=password.replace(
                "Chen", "Chen2"
            ),
        )  # fmt: skip
    assert password not in str(created.value)
    with pytest.raises(PeopleError, match=needle):
        chen.reset_password("chen", password)
    assert chen.sign_in("chen", PASSWORD).name == "chen"  # the old password still holds


def test_a_reset_to_the_current_password_is_refused(chen: WarningStore) -> None:
    with pytest.raises(PeopleError, match="is the account's current one"):
        chen.reset_password("chen", PASSWORD)
    assert not [r for r in chen.audit_rows() if r["action"] == "user_password_reset"]
    chen.reset_password("chen", "a different long password")
    assert chen.sign_in("chen", "a different long password").name == "chen"


def test_a_sign_in_over_another_session_in_the_same_browser_ends_that_session(
    store: WarningStore,
) -> None:
    """wang signs in (cookie A); li signs in in the same browser, which sends A with the
    form: A ends there, not at its idle time-out. Sessions in other browsers stay."""
    book = SessionBook(store.engine, idle_s=600, absolute_s=3600)
    cookie_a, _ = book.start("wang")
    elsewhere, _ = book.start("wang")
    cookie_b, session_b = book.start("li", replacing=cookie_a)
    assert book.check(cookie_a) == (None, "replaced")
    assert book.check(cookie_b)[0] == session_b
    assert book.check(elsewhere)[0] is not None
    # an unknown or already ended cookie is no obstacle to signing in
    assert book.check(book.start("li", replacing="no such cookie")[0])[0] is not None
    assert book.check(book.start("wang", replacing=cookie_a)[0])[0] is not None


@pytest.fixture()
def sealed(migrated_store_url: str) -> Iterator[WarningStore]:
    """A store that encrypts entity ids (the service's configuration)."""
    opened = WarningStore(migrated_store_url, SECRET, EntityCipher(KEYS, "k-1"))
    yield opened
    opened.close()


def test_a_revealed_case_id_in_a_note_is_one_pseudonym_in_any_case_or_width(
    sealed: WarningStore, scored: Callable[..., dict[str, object]], tmp_path: Path
) -> None:
    """The review's note `MD00000003717、md00000003717、ＭＤ００００００００３７１７` has
    eight full-width zeros, one more than the id: another 14-character number, whose twelve
    digits are scrubbed as an account number. Typed as the id is, in full width, it is the
    case's own id and gets the same pseudonym; full-width phone and card numbers anywhere in
    the note are scrubbed too."""
    entity = "MD00000003717"
    wide = entity.translate({code - 0xFEE0: code for code in range(0xFF01, 0xFF5F)})
    assert wide == "ＭＤ０００００００３７１７"
    (warning_id,) = sealed.record_scores(
        actor="key:scorer",
        task="dispute-escalation",
        model_name="riskloop-dispute-escalation",
        model_version="1",
        results=[scored(entity, 0.9, "red")],
    )
    assert warning_id is not None
    assert sealed.reveal(warning_id, actor="user:off", purpose="核实纠纷当事人", limit=5) == entity
    note = f"{entity}、{entity.lower()}、{wide}、{wide.lower()}；电话１３８１２３４５６７８"
    sealed.add_feedback(
        warning_id, actor="user:off", status="dispatched", department="county_centre",
        outcome=None, note=note,
    )  # fmt: skip
    stored = sealed.get_warning(warning_id)["history"][-1]["note"]
    own = f"[id:{sealed.pseudonymise(entity)}]"
    phone = f"[id:{sealed.pseudonymise('13812345678')}]"
    assert stored == f"{own}、{own}、{own}、{own}；电话{phone}"
