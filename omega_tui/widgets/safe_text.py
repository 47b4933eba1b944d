"""Strings from the stores, made safe to put on a terminal.

Hostnames, labels, session names, usernames and messages are untrusted: they
may hold escape sequences, control characters, bidi overrides or Rich/Textual
markup. Every such string goes through `clean()` before it reaches a widget,
and is wrapped in `Text(...)` / `Content(...)` (never interpolated into markup),
so it shows literally and can neither move the cursor nor restyle the screen.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rich.cells import cell_len, get_character_cell_size
from rich.text import Text

ELLIPSIS = "…"

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), and other two-byte ESC sequences.
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[@-Z\\-_]?"
    r"|\x9b[0-?]*[ -/]*[@-~]"
)
_WHITESPACE_CONTROL = re.compile(r"[\t\n\r\v\f\u2028\u2029]+")
REPLACEMENT = "\ufffd"
ZERO_WIDTH_JOINER = "\u200d"  # kept: it glues emoji sequences and moves nothing


def clean(value: object, max_cells: int | None = None) -> str:
    """`value` as one printable line: escapes removed, controls replaced, truncated to `max_cells`."""
    if value is None:
        return ""
    return _clean(value if isinstance(value, str) else str(value), max_cells)


@lru_cache(maxsize=1 << 14)  # the same hostnames and words come back every poll; bounded: names come and go
def _clean(text: str, max_cells: int | None) -> str:
    if not text.isprintable():
        text = _ESCAPE_SEQUENCE.sub("", text)
        text = _WHITESPACE_CONTROL.sub(" ", text)
        # Any other non-printable character (C0/C1 controls, DEL, bidi overrides,
        # format characters, unassigned code points) becomes a visible marker.
        text = "".join(
            char if char.isprintable() or char == ZERO_WIDTH_JOINER else REPLACEMENT for char in text
        )
    if max_cells is not None:
        text = truncate(text, max_cells)
    return text


def truncate(text: str, max_cells: int) -> str:
    """Cut `text` to at most `max_cells` terminal cells, ending with an ellipsis when cut."""
    if max_cells <= 0:
        return ""
    if cell_len(text) <= max_cells:
        return text
    kept: list[str] = []
    used = 0
    for char in text:
        size = get_character_cell_size(char)
        if used + size > max_cells - 1:
            break
        kept.append(char)
        used += size
    return "".join(kept) + ELLIPSIS


def safe_text(value: object, max_cells: int | None = None, style: str = "") -> Text:
    """A Rich Text holding `value` literally (no markup), cleaned and truncated."""
    return Text(clean(value, max_cells), style=style, no_wrap=True, end="")
