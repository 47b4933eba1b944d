"""Pieces of the console that need no running app: sparklines, layout, themes, fixed data, CLI."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from omega_tui.cli import main
from omega_tui.data.metric_history import to_micros
from omega_tui.data.models import AlertKind, MetricSeries
from omega_tui.fixed_source import FIXED_TAKEN_AT, FixedSource
from omega_tui.theme_files import ThemeError, bundled_theme_dir, check_theme_name, load_theme_file, load_themes
from omega_tui.widgets.formatting import coarse_duration, duration, metric_value
from omega_tui.widgets import status_words
from omega_tui.widgets.keyed_table import ColumnSpec, fit_columns
from omega_tui.widgets.node_table import NodeTable, layout_columns, natural_key, node_matches, sort_nodes
from omega_tui.widgets.sparkline_cells import BucketedSeries, SparkHistory, history_spark, spark_text

T0 = datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


def test_spark_text_maps_values_to_blocks():
    assert spark_text([0, 50, 100, None]) == "▁▅█ "


def test_sparkline_changes_only_its_last_character_within_a_bucket():
    series = BucketedSeries(bucket_seconds=15, keep=10)
    for i in range(40):
        series.add(T0 + timedelta(seconds=2 * i), 10 + i)
    now = T0 + timedelta(seconds=80)
    first = series.text(now, 8)
    series.add(now, 95)
    second = series.text(now, 8)
    assert first[:-1] == second[:-1] and first[-1] != second[-1]
    later = series.text(now + timedelta(seconds=15), 8)
    assert later[:-1] == second[1:]  # one bucket later the line shifted by one
    series.add(now - timedelta(seconds=5), 0)  # an older (repeated) sample is ignored
    assert series.text(now, 8) == second


def test_a_sparkline_fed_now_and_then_forgets_buckets_too_old_to_show():
    series = BucketedSeries(bucket_seconds=15, keep=10)
    for i in range(7):   # one sample every 5 buckets (its screen shown now and then), for 7.5 min
        series.add(T0 + timedelta(seconds=75 * i), 50)
    assert len(series._buckets) <= 3   # within the last 10 buckets (+ 4 carried): the last three samples
    assert series.text(T0 + timedelta(seconds=450), 8) == "▅▅▅▅▅▅▅▅"


def test_a_seeded_sparkline_spaces_its_history_as_told():
    now = T0 + timedelta(seconds=120)
    history = (0.0, 25.0, 50.0, 75.0, 100.0)
    sparks = SparkHistory(bucket_seconds=15, keep=10)
    sparks.feed("every 30 s", 100.0, now, history, step_seconds=30)
    sparks.feed("default", 100.0, now, history)   # 2 s apart: all in the last two buckets
    assert sparks.get("every 30 s").text(now, 8) == "▁▃▃▅▅▇▇█"
    assert sparks.get("default").text(now, 8) == "      ▄█"


def test_the_header_seeds_its_cluster_sparkline_spaced_as_the_nodes_sampled():
    from dataclasses import replace

    from omega_tui.widgets.summary_header import CLUSTER_BUCKET_SECONDS, SummaryHeader

    snapshot = FixedSource().snapshot
    at = snapshot.taken_at
    ramp = (0.0, 25.0, 50.0, 75.0, 100.0)
    step = 2 * CLUSTER_BUCKET_SECONDS
    times = tuple(to_micros(at - timedelta(seconds=step * (4 - i))) for i in range(5))

    def with_cpu(history_us):
        cpu = MetricSeries("cpu_percent", "percent", 100.0, at, ramp, history_us)
        return replace(snapshot, nodes=tuple(replace(n, metrics=(cpu,)) for n in snapshot.nodes))

    timed, untimed = SummaryHeader(), SummaryHeader()
    timed.show_snapshot(with_cpu(times))
    untimed.show_snapshot(with_cpu(()))
    assert timed.sparks.get("cpu").text(at, 9) == "▁▁▃▃▅▅▇▇█"   # 4 steps of 2 buckets
    assert untimed.sparks.get("cpu").text(at, 9) == "      ▂▆█"   # taken as 2 s apart


def test_the_header_counts_the_alerts_once_a_snapshot_and_not_again_at_each_repaint(monkeypatch):
    from omega_tui.widgets import summary_header

    snapshot = FixedSource().snapshot
    active = [a for a in snapshot.alerts if not a.acknowledged]
    acked = len(snapshot.alerts) - len(active)
    named = {severity: sum(a.severity == severity for a in active) for severity in ("critical", "error", "warning")}
    assert acked and len(active) > sum(named.values()) and all(named.values())   # the fixture has each case
    counts = summary_header._alert_counts(snapshot)
    line = summary_header.SummaryHeader()._work_line(snapshot, counts, 1, True).plain
    assert line.endswith(f"│ Alerts ✖ {named['critical']} critical ✖ {named['error']} error "
                         f"▲ {named['warning']} warning +{len(active) - sum(named.values())} other ({acked} acked)")

    counted = []
    monkeypatch.setattr(summary_header, "_alert_counts", lambda snap: counted.append(1) or counts)
    header = summary_header.SummaryHeader()
    header.show_snapshot(snapshot)
    shown = [header.render().plain for _ in range(3)]   # three repaints
    assert len(counted) == 1
    assert shown[0].splitlines() == [line.plain for line in header._lines()] and len(set(shown)) == 1
    before = len(counted)
    monkeypatch.setattr(summary_header.SummaryHeader, "_width", lambda self: 200)   # resized, not yet told
    wide = header.render().plain
    assert len(counted) == before + 1   # laid out again for the new width: the long words now fit
    assert f"({acked} acked)" not in shown[0] and f"({acked} acked)" in wide


def test_a_node_sparkline_is_drawn_from_its_sample_times():
    values = (0.0, 25.0, 50.0, 75.0, 100.0)
    times = tuple(to_micros(T0 + timedelta(seconds=30 * i)) for i in range(5))   # a sample every 2 buckets
    now = T0 + timedelta(seconds=120)
    series = MetricSeries("cpu_percent", "percent", 100.0, now, values, times)
    assert history_spark(series, now, 8, 15) == "▁▃▃▅▅▇▇█"   # each value carried to the next sample
    assert history_spark(series, now + timedelta(seconds=15 * 5), 8, 15) == "▇▇█████ "   # carried 4 buckets, then blank
    # Without times the values are taken as 2 s apart: all in the last two buckets.
    assert history_spark(series._replace(history_us=()), now, 8, 15) == "      ▄█"
    assert history_spark(series._replace(latest_at=None, history_us=()), now, 8, 15) == " " * 8


def test_the_node_table_keeps_hostname_order_while_hostnames_stay_and_sorts_again_when_one_changes():
    from dataclasses import replace

    nodes = FixedSource().snapshot.nodes
    table = NodeTable()
    by_host = table._sorted_by_host(nodes)
    assert [n.hostname for n in by_host] == sorted((n.hostname for n in nodes), key=natural_key)
    renewed = tuple(replace(n) for n in nodes)   # new objects (new samples), the same hostnames
    assert [id(n) for n in table._sorted_by_host(renewed)] == [id(renewed[nodes.index(n)]) for n in by_host]
    last = by_host[-1]
    renamed = tuple(replace(n, hostname="aaa-00") if n is last else n for n in nodes)
    assert table._sorted_by_host(renamed)[0].node_id == last.node_id


def test_node_table_columns_fit_80_and_200_columns():
    for width in (80, 120, 200):
        keys, widths = layout_columns(width)
        assert sum(widths[k] + 2 for k in keys) <= width - 2
        assert {"host", "status", "cpu"} <= set(keys)
    keys, widths = layout_columns(200)
    assert len(keys) == 10 and widths["cpu"] > 5  # everything, with sparklines


def test_fit_columns_drops_by_priority_and_grows():
    specs = [ColumnSpec("a", "A", 10, 0, max_width=20), ColumnSpec("b", "B", 10, 2), ColumnSpec("c", "C", 10, 1)]
    assert [c.key for c in fit_columns(specs, 30)] == ["a", "c"]
    assert [c.width for c in fit_columns(specs, 60)] == [20, 10, 10]


def test_hostnames_sort_naturally():
    assert sorted(["n-10", "n-2", "N-1"], key=natural_key) == ["N-1", "n-2", "n-10"]
    nodes = FixedSource().snapshot.nodes
    ordered = sort_nodes(nodes, "cpu", False, FIXED_TAKEN_AT)
    values = [n.metric("cpu_percent").latest for n in ordered if n.metric("cpu_percent")
              and n.metric("cpu_percent").latest is not None]
    assert values == sorted(values, reverse=True)
    assert ordered[-1].metric("cpu_percent") is None or ordered[-1].metric("cpu_percent").latest is None
    by_host = sort_nodes(nodes, "host", True, FIXED_TAKEN_AT)
    assert [n.hostname for n in by_host] == sorted((n.hostname for n in nodes), key=natural_key, reverse=True)
    # Ties in hostname order, whichever way the values go; the same with the hostname order given.
    for key, reverse in (("status", False), ("status", True), ("sess", False), ("cpu", True)):
        ordered = sort_nodes(nodes, key, reverse, FIXED_TAKEN_AT)
        assert ordered == sort_nodes(nodes, key, reverse, FIXED_TAKEN_AT, by_host=sort_nodes(nodes, "host", False,
                                                                                             FIXED_TAKEN_AT))
        runs = {}
        for node in ordered:
            value = node.sessions_total if key == "sess" else (
                node.metric("cpu_percent") and node.metric("cpu_percent").latest if key == "cpu" else
                status_words.node_problem_rank(node))
            runs.setdefault(value, []).append(natural_key(node.hostname))
        assert all(run == sorted(run) for run in runs.values()) and max(map(len, runs.values())) > 1


def test_the_node_filter_sees_a_field_that_changed_between_polls():
    from dataclasses import replace

    nodes = list(FixedSource().snapshot.nodes)
    table = NodeTable()
    words = ["draining"]
    before = table._matching(nodes, words)
    assert [n.node_id for n in before] == [n.node_id for n in nodes if node_matches(n, "draining")] != []
    assert table._matching(nodes, words) == before   # the same list again: searched as worked out
    nodes = list(nodes)                                # a new snapshot's list, one node changed
    nodes[0] = replace(nodes[0], status="draining")   # a kept haystack would miss it
    assert nodes[0] in table._matching(nodes, words)
    assert table._matching(nodes, ["rack=r1", "zone"]) == [n for n in nodes if node_matches(n, "RACK=r1 zone")]


def test_durations():
    assert [duration(s) for s in (5, 65, 3700, 90000)] == ["5s", "1m05s", "1h01m", "1d01h"]
    assert [coarse_duration(s) for s in (5, 47, 65, 3700)] == ["0s", "40s", "1m", "1h01m"]
    assert metric_value("net_rx_bytes", "bytes/s", 24_000_000) == "24.0 MB/s"
    assert metric_value("fan_rpm", "rpm", 3200) == "3200 rpm"


def test_bundled_themes_load_and_user_themes_are_added(tmp_path):
    themes = load_themes([bundled_theme_dir()])
    assert {"omega-dark", "omega-light", "omega-high-contrast"} <= set(themes)
    (tmp_path / "mine.toml").write_text('name = "mine"\nprimary = "#112233"\nerror = "#ff0000"\n')
    (tmp_path / "broken.toml").write_text('name = "broken"\nprimary = "not a colour"\n')
    warnings: list[str] = []
    themes = load_themes([bundled_theme_dir(), tmp_path], warn=warnings.append)
    assert themes["mine"].primary == "#112233"
    assert "broken" not in themes and "not a colour" in warnings[0]
    with pytest.raises(ThemeError, match="unknown field"):
        (tmp_path / "odd.toml").write_text('name = "odd"\nprimary = "#000"\ncolour = 1\n')
        load_theme_file(tmp_path / "odd.toml")


def test_fixed_source_is_deterministic_and_moves_on_advance():
    one, two = FixedSource(), FixedSource()
    assert one.poll() == two.poll()
    before = one.snapshot
    after = one.advance()
    assert after.taken_at - before.taken_at == timedelta(seconds=2)
    changed = [a for a, b in zip(before.nodes, after.nodes) if a.metrics != b.metrics]
    assert 0 < len(changed) <= len(before.nodes) // 5
    statuses = {s.status for s in before.sessions}
    assert statuses == {"pending", "scheduled", "running", "paused"}
    assert {a.kind for a in before.alerts} == set(AlertKind)
    assert {a.severity for a in before.alerts} >= {"critical", "error", "warning", "info"}
    assert any(a.acknowledged for a in before.alerts) and before.resolved_alerts
    assert any(not n.in_postgres for n in before.nodes)
    assert two.node_detail("x", timedelta(hours=1)) == FixedSource().node_detail("x", timedelta(hours=1))


def test_console_helpers_do_not_import_textual():
    code = (
        "import sys, omega_tui.fixed_source, omega_tui.poll_schedule\n"
        "assert not [m for m in sys.modules if m == 'textual' or m.startswith('textual.')]\n"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_cli_snapshot_renders_a_screen_headless(tmp_path, capsys):
    out = tmp_path / "alerts.svg"
    assert main(["snapshot", "--fixed-data", "--screen", "alerts", "--size", "100x30", "--out", str(out)]) == 0
    svg = out.read_text()
    assert svg.startswith("<svg") and "Alerts" in svg
    assert main(["snapshot", "--fixed-data", "--screen", "node:nope", "--out", str(out)]) == 2
    assert "no node named 'nope'" in capsys.readouterr().err
    assert main(["snapshot", "--fixed-data", "--screen", "bogus", "--out", str(out)]) == 2
    assert main(["console", "--fixed-data", "--theme", "no-such-theme"]) == 2
    assert "unknown theme 'no-such-theme'" in capsys.readouterr().err


def test_theme_names_are_checked_against_textuals_bundled_and_user_themes(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    (tmp_path / "omega-tui" / "themes").mkdir(parents=True)
    (tmp_path / "omega-tui" / "themes" / "mine.toml").write_text('name = "mine"\nprimary = "#112233"\n')
    for name in ("omega-light", "nord", "mine"):
        check_theme_name(name)
    with pytest.raises(ThemeError, match="unknown theme 'yours' .*mine.*omega-light"):
        check_theme_name("yours")
    (tmp_path / "omega-tui" / "themes" / "yours.toml").write_text('name = "yours"\n')   # no primary colour
    with pytest.raises(ThemeError, match="unknown theme 'yours' .*; theme file .*yours.toml: 'primary' is required"):
        check_theme_name("yours")


def test_a_console_snapshot_or_demo_with_an_unknown_theme_fails_before_it_reads_or_starts_anything(monkeypatch, tmp_path, capsys):
    from omega_tui.data.poller import Poller

    monkeypatch.setenv("OMEGA_TUI_CONFIG", str(tmp_path / "none.toml"))
    polled = []
    monkeypatch.setattr(Poller, "poll", lambda self: polled.append(self))
    dsn = "postgresql://omega@127.0.0.1:1/omega"
    assert main(["console", "--dsn", dsn, "--theme", "no-such-theme"]) == 2
    assert "unknown theme 'no-such-theme'" in capsys.readouterr().err
    assert main(["snapshot", "--dsn", dsn, "--theme", "no-such-theme", "--out", str(tmp_path / "x.svg")]) == 2
    assert "unknown theme 'no-such-theme'" in capsys.readouterr().err
    assert not polled
    (tmp_path / "bad.toml").write_text('theme = "no-such-theme"\n')   # the demo's theme is the configured one
    monkeypatch.setenv("OMEGA_TUI_CONFIG", str(tmp_path / "bad.toml"))
    assert main(["demo", "--dir", str(tmp_path / "demo")]) == 2
    assert "unknown theme 'no-such-theme'" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()   # no server started, no history written


def test_cli_console_is_the_default_command(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("OMEGA_TUI_CONFIG", str(tmp_path / "none.toml"))
    for name in ("OMEGA_DSN", "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_USER",
                 "POSTGRES_PASSWORD", "OMEGA_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    assert main([]) == 2  # the console, refusing to start without a database
    assert "no DSN given" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # options without a command go to the console too
        main(["--refresh", "0"])
    assert exit_.value.code == 2
    assert "omega-tui console: error: argument --refresh" in capsys.readouterr().err
