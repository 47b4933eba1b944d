"""Strings from the stores reach the terminal literally and harmlessly."""

from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len

from omega_tui.widgets.safe_text import REPLACEMENT, clean, safe_text, truncate


def test_escape_sequences_are_removed():
    assert clean("a\x1b[31mred\x1b[0m b") == "ared b"
    assert clean("x\x1b]0;new title\x07y") == "xy"          # OSC (set window title)
    assert clean("x\x1b]8;;http://evil\x1b\\link") == "xlink"  # OSC 8 hyperlink, ST-terminated
    assert clean("\x9b2J") == ""                               # 8-bit CSI


def test_control_characters_become_visible_markers():
    assert clean("bell\x07") == f"bell{REPLACEMENT}"
    assert clean("a\tb\nc\r\nd") == "a b c d"
    assert clean("\u202eevil") == f"{REPLACEMENT}evil"       # bidi override
    assert clean("nul\x00") == f"nul{REPLACEMENT}"


def test_markup_is_kept_as_text():
    text = safe_text("[bold red]x[/] $error")
    assert text.plain == "[bold red]x[/] $error"
    assert not text.spans


def test_truncation_counts_terminal_cells():
    assert truncate("abcdef", 4) == "abc…"
    assert truncate("日本語のホスト", 7) == "日本語…"
    assert cell_len(truncate("日本語のホスト", 6)) <= 6
    assert truncate("short", 10) == "short"
    assert clean(None) == ""
    assert clean(42) == "42"


@given(st.text(), st.integers(min_value=1, max_value=40))
def test_any_string_comes_out_printable_and_within_width(value, width):
    out = clean(value, width)
    assert "\x1b" not in out
    assert all(ch.isprintable() or ch == "\u200d" for ch in out)
    assert cell_len(out) <= width
