"""Line breaks in a person's text: one character each, LF, however they were sent."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from serving.store.free_text import NOTE_MAX_CHARS, plain_line_breaks

# text made mostly of the characters that matter here: CR, LF, and a few others
_TYPED = st.text(alphabet=st.sampled_from(["\r", "\n", "a", "长", " ", "\t"]), max_size=60)


def _breaks_a_browser_counts(text: str) -> int:
    """Line breaks as a text box counts them, by the slow, obvious walk: CRLF is one, a lone
    CR is one, a lone LF is one."""
    count, i = 0, 0
    while i < len(text):
        if text[i] == "\r":
            count += 1
            i += 2 if text[i + 1 : i + 2] == "\n" else 1
            continue
        count += text[i] == "\n"
        i += 1
    return count


@given(_TYPED)
def test_each_line_break_becomes_one_lf_and_nothing_else_changes(text: str) -> None:
    plain = plain_line_breaks(text)
    assert "\r" not in plain
    assert plain.count("\n") == _breaks_a_browser_counts(text)
    assert plain.replace("\n", "") == text.replace("\r", "").replace("\n", "")
    assert plain_line_breaks(plain) == plain


def test_a_note_the_box_takes_as_the_longest_is_the_longest_after_the_browser_sent_it() -> None:
    """A text box counts 2,000 characters with 7 line breaks; the browser sends 2,007."""
    typed = "\n".join(["长" * 249] * 7 + ["长" * 250])
    sent = typed.replace("\n", "\r\n")
    assert len(typed) == NOTE_MAX_CHARS and len(sent) == NOTE_MAX_CHARS + 7
    assert plain_line_breaks(sent) == typed
    assert plain_line_breaks("a\r\rb\n\rc") == "a\n\nb\n\nc"
