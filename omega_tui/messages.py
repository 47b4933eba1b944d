"""Messages that cross screens, or go from the poller worker to the app."""

from __future__ import annotations

from textual.message import Message


class SnapshotReady(Message):
    """A new ClusterSnapshot is waiting in the app (posted from the poller thread).

    It carries no snapshot: the app takes the newest one when it handles the
    message, so a snapshot not yet rendered is simply replaced by a newer one.
    """


class PollFailed(Message):
    """`source.poll()` raised; `problem` is one line for the operator."""

    def __init__(self, problem: str) -> None:
        super().__init__()
        self.problem = problem


class OpenNode(Message):
    """Show the detail screen of a node (from any screen)."""

    def __init__(self, node_id: str) -> None:
        super().__init__()
        self.node_id = node_id


class OpenSession(Message):
    """Show a session: the sessions screen with it selected."""

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id


class OpenAlert(Message):
    """Show an alert: the alerts screen with it selected."""

    def __init__(self, alert_id: str) -> None:
        super().__init__()
        self.alert_id = alert_id


class ActionsDone(Message):
    """An action worker finished: each ActionResult with the target name the operator saw."""

    def __init__(self, results: list) -> None:
        super().__init__()
        self.results = results
