"""omega-tui: a terminal console for the operators of an Omega compute cluster."""

__version__ = "0.1.0"
