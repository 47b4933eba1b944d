"""The console's screens: overview, node detail, sessions, alerts, help."""
