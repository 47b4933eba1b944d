"""The node agent: this host as a real node of the cluster (psutil samples,
store and forward through a local SQLite buffer). No Textual here."""

from omega_tui.agent.node_agent import AgentTick, NodeAgent

__all__ = ["AgentTick", "NodeAgent"]
