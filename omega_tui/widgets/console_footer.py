"""Textual's Footer, without keeping every key it ever showed.

Each FooterKey the Footer composes watches the Footer's `compact` (data_bind),
and Textual drops the watcher of a removed widget only when that value
changes, which here it never does. The Footer composes its keys again on every
screen switch and focus change, so each would keep the old keys alive, with
their styles and message queues (a soak switching screens every 10 s piled up
some 750 dead keys every 10 minutes). This footer forgets the removed keys'
watchers itself.
"""

from __future__ import annotations

from textual.widgets import Footer


class ConsoleFooter(Footer):
    async def recompose(self) -> None:
        await super().recompose()
        self.forget_removed_keys()

    def forget_removed_keys(self) -> None:
        # Textual's own rule (reactive.py, when a watched value changes): a closing watcher goes.
        watchers = getattr(self, "__watchers", {}).get("compact")
        if watchers:
            watchers[:] = [(node, callback) for node, callback in watchers if not node._closing]
