"""Send only the refreshed part of a line to the terminal (a fix to Textual 8.2's output).

When a widget refreshes a region that starts inside a line (one table cell, say),
Textual 8.2's `ChopsUpdate.render_segments` crops the line at the region's end but
not at its start, so it resends everything from the widget's left edge: updating
the GPU column of a node table rewrites the whole row. Over SSH that doubles the
bytes of a typical refresh (measured: 1.4-3.2 KB down to 0.3-1.4 KB at 120x40).
See https://github.com/Textualize/textual/issues/5625.

`apply()` replaces that one method with the same code cropping at both ends (as
Textual's own `__rich_console__` of the same class does). It is applied by
`run_console()` only, and only to the Textual minor version it was written for.
"""

from __future__ import annotations

from importlib.metadata import version

from rich.control import Control

FOR_TEXTUAL = "8.2."


def render_segments(self, console) -> str:
    """ChopsUpdate.render_segments of Textual 8.2, cropping each chop to [x1, x2)."""
    sequences: list[str] = []
    append = sequences.append
    move_to = Control.move_to
    chops = self.chops
    chop_ends = self.chop_ends
    last_y = self.spans[-1][0]
    for y, x1, x2 in self.spans:
        line = chops[y]
        ends = chop_ends[y]
        for end, (x, strip) in zip(ends, line.items()):
            if strip is None or x > x2 or end <= x1:
                continue
            if x2 > x >= x1 and end <= x2:
                append(move_to(x, y).segment.text)
                append(strip.render(console))
                continue
            start = max(x, x1)
            strip = strip.crop(start - x, min(end, x2) - x)
            append(move_to(start, y).segment.text)
            append(strip.render(console))
        if y != last_y:
            append("\n")
    return "".join(sequences)


def apply() -> bool:
    """Patch Textual if it is the version this was written for; False (and no change) otherwise."""
    if not version("textual").startswith(FOR_TEXTUAL):
        return False
    from textual._compositor import ChopsUpdate

    ChopsUpdate.render_segments = render_segments
    return True
