"""Command palette (ctrl+p): go to a node, a session or an alert, or drain/resume/cancel one,
from the latest snapshot. Actions go through the same confirmation as their keys."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Callable

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.markup import escape
from textual.message import Message

from omega_tui import confirmation
from omega_tui.messages import OpenAlert, OpenNode, OpenSession
from omega_tui.widgets.safe_text import clean

if TYPE_CHECKING:
    from omega_tui.app import OmegaApp

MAX_DISCOVERY = 12


def highlight(query: str, text: str) -> Content:
    """`text` literally (Matcher.highlight would parse it as markup), query letters underlined in order."""
    content = Content(text)
    position = 0
    lowered = text.lower()
    for char in query.lower():
        if char.isspace():
            continue
        found = lowered.find(char, position)
        if found < 0:
            break
        content = content.stylize("bold underline", found, found + 1)
        position = found + 1
    return content


class ClusterCommands(Provider):
    """'alert TITLE', 'node HOST', 'session NAME', 'drain HOST', 'resume HOST', 'cancel NAME':
    never a database call, only the snapshot."""

    def _targets(self) -> list[tuple[str, str, Callable[[], None]]]:
        app: OmegaApp = self.app  # type: ignore[assignment]
        snapshot = app.snapshot
        if snapshot is None:
            return []
        targets: list[tuple[str, str, Callable[[], None]]] = []
        for alert in snapshot.alerts:
            targets.append((f"alert {clean(alert.title, 60)}", f"{clean(alert.severity)}: {clean(alert.message, 60)}",
                            partial(self._go, partial(OpenAlert, alert.alert_id))))
        for node in snapshot.nodes:
            targets.append((f"node {clean(node.hostname, 60)}", f"{clean(node.node_type)}, {clean(node.status)}",
                            partial(self._go, partial(OpenNode, node.node_id))))
        for session in snapshot.sessions:
            targets.append((f"session {clean(session.session_name, 60)}",
                            f"{clean(session.username) or '?'}, {clean(session.status)}",
                            partial(self._go, partial(OpenSession, session.session_id))))
        if not app.read_only:
            targets.extend(self._actions(app))
        return targets

    def _actions(self, app: "OmegaApp") -> list[tuple[str, str, Callable[[], None]]]:
        snapshot = app.snapshot
        found = []
        for node in snapshot.nodes:
            if not node.in_postgres:
                continue
            action = "resume" if node.status == "draining" else "drain"
            found.append((f"{action} {clean(node.hostname, 60)}", f"{action} this node (asks first)",
                          partial(self._act, lambda n=node, a=action: confirmation.for_nodes(
                              a, [n], app.snapshot, app.now()))))
        for session in snapshot.sessions:
            found.append((f"cancel {clean(session.session_name, 60)}", "cancel this session (asks first)",
                          partial(self._act, lambda s=session: confirmation.for_sessions([s], app.now()))))
        return found

    def _go(self, make_message: Callable[[], Message]) -> None:
        self.app.post_message(make_message())

    def _act(self, make_confirmation) -> None:
        self.app.act(make_confirmation())  # type: ignore[attr-defined]

    async def discover(self) -> Hits:
        for text, help_text, run in self._targets()[:MAX_DISCOVERY]:
            yield DiscoveryHit(Content(text), run, text=text, help=escape(help_text))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, help_text, run in self._targets():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, highlight(query, text), run, text=text, help=escape(help_text))
