"""How numbers, durations and times are written on screen.

Relative times always take `now` from the caller (the app's injected clock),
so a screen renders the same text for the same data and the same `now`.
"""

from __future__ import annotations

import math
from datetime import datetime

MISSING = "—"
HUGE = 1e6          # numbers this large are written 1.2e+09: a bad value must not fill a column
MAX_DAYS = 999      # durations longer than this (a timestamp from year 1) are written >999d


def _finite(value: float | None) -> bool:
    """A number that can be shown (None, NaN and infinities cannot)."""
    return value is not None and math.isfinite(value)


def duration(seconds: float | None) -> str:
    """A compact duration: 9s, 4m05s, 3h12m, 2d04h."""
    if not _finite(seconds):
        return MISSING
    total = max(0, int(seconds))
    if total > MAX_DAYS * 86400:
        return f">{MAX_DAYS}d"
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h" if days < 100 else f"{days}d"


def coarse_duration(seconds: float | None) -> str:
    """A duration that changes rarely: 10-second steps, then whole minutes, hours, days.

    Used in tables refreshed every poll, where a ticking seconds counter on every
    row would repaint (and resend over SSH) every row every time.
    """
    if not _finite(seconds):
        return MISSING
    total = max(0, int(seconds))
    if total > MAX_DAYS * 86400:
        return f">{MAX_DAYS}d"
    if total < 60:
        return f"{total // 10 * 10}s"
    if total < 3600:
        return f"{total // 60}m"
    if total < 86400:
        return f"{total // 3600}h{total % 3600 // 60:02d}m"
    days = total // 86400
    return f"{days}d{total % 86400 // 3600:02d}h" if days < 100 else f"{days}d"


def seconds_between(earlier: datetime | None, later: datetime | None) -> float | None:
    if earlier is None or later is None:
        return None
    return (later - earlier).total_seconds()


def age(when: datetime | None, now: datetime) -> str:
    """How long ago `when` was, as a duration."""
    return duration(seconds_between(when, now))


def clock_time(when: datetime | None, now: datetime) -> str:
    """`when` in `now`'s time zone: HH:MM:SS today, else the date too."""
    if when is None:
        return MISSING
    local = when.astimezone(now.tzinfo) if when.tzinfo and now.tzinfo else when
    if local.date() == now.date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M")


def percent(value: float | None) -> str:
    if not _finite(value):
        return MISSING
    if abs(value) >= HUGE:
        return f"{value:.1e}%"
    return f"{value:.0f}%"


def amount(value: float | None) -> str:
    """A quantity without a useless trailing .0: 64, 12.5, 1.2k."""
    if not _finite(value):
        return MISSING
    if abs(value) >= HUGE:
        return f"{value:.1e}"
    if abs(value) >= 10_000:
        return f"{value / 1000:.0f}k"
    if value == int(value):
        return str(int(value))
    return f"{value:.1f}"


def load(value: float | None) -> str:
    if not _finite(value):
        return MISSING
    if abs(value) >= HUGE:
        return f"{value:.1e}"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


_RATE_UNITS = ("B/s", "kB/s", "MB/s", "GB/s", "TB/s")


def byte_rate(value: float | None) -> str:
    if not _finite(value):
        return MISSING
    scaled = float(value)
    for unit in _RATE_UNITS:
        if unit == _RATE_UNITS[-1] and abs(scaled) >= 1000:
            return f"{scaled:.1e} {unit}"
        if abs(scaled) < 1000:
            return f"{scaled:.0f} {unit}" if unit == "B/s" else f"{scaled:.1f} {unit}"
        scaled /= 1000
    return MISSING  # unreachable


def metric_value(metric_type: str, unit: str | None, value: float | None) -> str:
    """A metric's value with its unit, for any metric type (unknown ones generically)."""
    if not _finite(value):
        return MISSING
    if unit == "percent" or metric_type.endswith("_percent"):
        return percent(value)
    if unit == "bytes/s" or metric_type.endswith("_bytes"):
        return byte_rate(value)
    if unit == "celsius" or metric_type == "temperature_c":
        return f"{value:.0f}°C" if abs(value) < HUGE else f"{value:.1e}°C"
    if metric_type == "load_1m":
        return load(value)
    suffix = f" {unit}" if unit else ""
    return f"{amount(value)}{suffix}"
