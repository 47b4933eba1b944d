"""Hostile strings and numbers for the hostile-data tests, and what safe output looks like."""

from __future__ import annotations

import unicodedata

from hypothesis import strategies as st

# Pieces an attacker (or a broken agent) could put into a hostname, label, name or message.
FRAGMENTS = [
    "[bold red]x[/]", "[link=https://evil.example]click[/link]", "[/]", "[@click=app.quit]q[/]",
    "\x1b[2J\x1b[H", "\x1b[31m", "\x1b]0;pwned\x07", "\x1b]8;;https://evil.example\x1b\\a\x1b]8;;\x1b\\",
    "\x1b]52;c;ZXZpbA==\x07", "\x9b31m", "\x1bP+q544e\x1b\\", "\x1b[?1049l", "\x1b[6n", "\x1bc",
    "\r", "\b\b", "\x07", "\x7f", "\x85", "\x9d", "\t", "\n", "\v",
    "\u202eevil\u202c", "\u2066x\u2069", "\u200f", "\u200e", "\ufeff", "\u2028",
    "日本語ホスト", "e\u0301\u0301\u0301", "👩\u200d💻", "שלום עולם", "مرحبا", "🇫🇷",
    "$var", "%s", "{0}", "x" * 300, "ｗｉｄｅ",
]

# Characters that must never reach the terminal from data: C0/C1 controls, DEL,
# and the bidi controls that reorder what follows them.
BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def hostile_text(*, allow_nul: bool = True, max_pieces: int = 5):
    alphabet = st.characters(blacklist_characters="\x00") if not allow_nul else st.characters()
    piece = st.one_of(st.sampled_from(FRAGMENTS), st.text(alphabet, max_size=12))
    return st.lists(piece, min_size=1, max_size=max_pieces).map("".join)


hostile_numbers = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -1.0, -1e9, 1e15, 1e300, 101.0, 5e-324]),
)


def unsafe_characters(text: str) -> list[str]:
    """Characters in `text` that could move the cursor or change the terminal."""
    bad = []
    for char in text:
        code = ord(char)
        if code < 0x20 or 0x7F <= code < 0xA0 or char in BIDI_CONTROLS:
            bad.append(char)
        elif unicodedata.category(char) in ("Cc", "Cs"):
            bad.append(char)
    return bad


def assert_safe(text: str, what: str = "") -> None:
    bad = unsafe_characters(text)
    assert not bad, f"{what}: unsafe characters {bad!r} in {text!r}"


def assert_safe_lines(text: str, what: str = "") -> None:
    """Multi-line output (a detail panel): its own line breaks are fine, nothing else."""
    for line in text.split("\n"):
        assert_safe(line, what)
