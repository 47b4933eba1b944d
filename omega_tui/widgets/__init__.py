"""Widgets of the console screens, and the text helpers they share."""
