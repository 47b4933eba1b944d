"""The bench's table (for the terminal and the README) and its JSON."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from importlib.metadata import version

# figure -> (1,000 nodes, 5,000 nodes): the targets of issue 7 on a 2-core machine, embedded servers.
TARGETS = {
    "poll_median_ms": (25, 100),
    "naive_ratio": (50, 100),
    "overview_update_ms": (50, 100),
    "terminal_bytes": (2048, 2048),
    "first_data_s": (1.5, 3.0),
    "peak_rss_mb": (150, 300),
}


def _num(value, digits: int = 0, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:,.{digits}f}"
    return text + unit


def _size(value) -> str:
    if value is None:
        return "-"
    return f"{value / 1024:,.1f} KB" if value >= 1024 else f"{value:,.0f} B"


def rows_of(result: dict) -> list[tuple[str, str]]:
    """(figure, value) lines for one size's result."""
    ours, naive = result["ours"], result.get("naive")
    overview, terminal = result.get("overview_update") or {}, result.get("terminal") or {}
    keys = result.get("key_latency") or {}
    lines = [
        ("metric rows in PostgreSQL", _num(result.get("metric_rows"))),
        ("poll median / p95", f"{_num(ours['median_ms'], 1)} / {_num(ours['p95_ms'], 1)} ms"),
        ("poll median after the history fill (polls) / CPU per poll",
         f"{_num(ours.get('after_fill_median_ms'), 1)} ms ({_num(ours.get('after_fill_polls'))})"
         f" / {_num(ours.get('cpu_median_ms'), 1)} ms"),
        ("first poll (loads the history)", _num(ours["first_ms"], 0, " ms")),
        ("SQL statements / Redis round trips per poll", f"{_num(ours['sql_per_poll'], 1)} / {_num(ours['redis_per_poll'], 1)}"),
        ("bytes received per poll", _size(ours["bytes_per_poll"])),
    ]
    if naive:
        lines += [
            ("naive poll median / p95", f"{_num(naive['median_ms'], 0)} / {_num(naive['p95_ms'], 0)} ms"),
            ("naive SQL / Redis round trips per poll", f"{_num(naive['sql_per_poll'], 0)} / {_num(naive['redis_per_poll'], 0)}"),
            ("naive bytes received per poll", _size(naive["bytes_per_poll"])),
            ("naive / ours (poll median)", _num(result.get("naive_ratio"), 0, "x")),
        ]
    lines += [
        ("overview update median / max", f"{_num(overview.get('median_ms'), 1)} / {_num(overview.get('max_ms'), 1)} ms"),
        ("key press to screen while polls run, median / p95 / max",
         f"{_num(keys.get('median_ms'), 1)} / {_num(keys.get('p95_ms'), 1)} / {_num(keys.get('max_ms'), 1)} ms"),
        ("terminal bytes per refresh, median / max", f"{_size(terminal.get('bytes_median'))} / {_size(terminal.get('bytes_max'))}"),
        ("start to first data", _num(terminal.get("first_data_s"), 2, " s")),
        ("peak RSS of the console", _num(terminal.get("peak_rss_mb"), 0, " MB")),
    ]
    return lines


def table(results: list[dict]) -> str:
    """One Markdown table: a row per figure, a column per cluster size."""
    if not results:
        return "(no results)"
    columns = [f"{r['nodes']:,} nodes" for r in results]
    body = [rows_of(r) for r in results]
    lines = ["| figure | " + " | ".join(columns) + " |", "| --- |" + " ---: |" * len(columns)]
    for index, (figure, _) in enumerate(body[0]):
        values = [rows[index][1] if index < len(rows) else "-" for rows in body]
        lines.append(f"| {figure} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def machine() -> dict:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "textual": version("textual"),
        "psycopg": version("psycopg"),
        "redis_py": version("redis"),
    }


def write_json(path: str, document: dict) -> None:
    with open(path, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=2, default=str)
        out.write("\n")
