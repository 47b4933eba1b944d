"""No SQL text is built from values: a scan of the package's execute()/copy() calls."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sql_text_check import SqlTextChecker

REPO = Path(__file__).resolve().parents[1]
# Calls whose SQL the scan cannot prove literal, each with the reason it is safe.
ALLOWED = {
    "omega_tui/data/migrate.py: text": "the text of a migration file shipped in sql/",
}


def test_no_sql_in_the_package_is_assembled_from_values():
    problems = SqlTextChecker(REPO, "omega_tui").problems()
    assert [p for p in problems if p not in ALLOWED] == []
    assert set(ALLOWED) <= set(problems), "an allowance no longer needed: remove it"


BAD = {
    "fstring": 'def f(conn, host):\n    conn.execute(f"SELECT 1 FROM nodes WHERE hostname = \'{host}\'")',
    "percent": 'def f(conn, host):\n    conn.execute("SELECT %s" % host)',
    "concat": 'def f(conn, host):\n    conn.execute("SELECT " + host)',
    "str_format": 'def f(conn, n):\n    conn.execute("SELECT {}".format(n))',
    "via_local": 'def f(conn, n):\n    q = f"SELECT * FROM t LIMIT {n}"\n    conn.cursor().execute(q)',
    "augmented": 'def f(conn, n):\n    q = "SELECT 1"\n    q += n\n    conn.execute(q)',
    "sql_of_fstring": 'from psycopg import sql\ndef f(conn, t):\n    conn.execute(sql.SQL(f"SELECT * FROM {t}"))',
    "format_with_str": 'from psycopg import sql\ndef f(conn, t):\n    conn.execute(sql.SQL("SELECT {}").format(t))',
    "interval_in_text": 'def f(conn, minutes):\n    conn.execute(f"SELECT now() - interval \'{minutes} minutes\'")',
    "keyword": 'def f(conn, t):\n    conn.execute(query="SELECT " + t)',
    "copy": 'def f(cur, table):\n    cur.copy(f"COPY {table} FROM STDIN")',
    "param_not_wrapper": 'def run(conn, text):\n    conn.execute(text)',
    "constant_with_value": 'import os\nQ = "SELECT " + os.environ["X"]\ndef f(conn):\n    conn.execute(Q)',
}
GOOD = {
    "literal": 'def f(conn, host):\n    conn.execute("SELECT 1 FROM nodes WHERE hostname = %s", (host,))',
    "constant": 'Q = """SELECT 1"""\nLIMIT = " LIMIT %s"\nQ2 = Q + LIMIT\ndef f(conn):\n    conn.execute(Q2, (1,))',
    "constant_twice": 'C = "SELECT 1"\nQ = C + " UNION ALL " + C\ndef f(conn):\n    conn.execute(Q)',
    "fstring_of_constants": 'COL = "x"\nQ = f"SELECT {COL} FROM t"\ndef f(conn):\n    conn.execute(Q)',
    "identifier": 'from psycopg import sql\ndef f(conn, t):\n    conn.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(t)))',
    "wrapper": 'class Db:\n    def execute(self, query, params=None):\n        return self.conn.execute(query, params)',
    "dict_of_constants": 'A = "SELECT 1"\nQ = {"a": A}\ndef f(conn, k):\n    conn.execute(Q[k])',
    "redis_pipeline": 'def f(pipe):\n    pipe.execute()',
}


def checker_on(tmp_path: Path, code: str) -> list[str]:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(textwrap.dedent(code) + "\n")
    return SqlTextChecker(tmp_path, "pkg").problems()


@pytest.mark.parametrize("name", sorted(BAD))
def test_the_scan_finds_sql_built_from_values(tmp_path, name):
    assert checker_on(tmp_path, BAD[name]), name


@pytest.mark.parametrize("name", sorted(GOOD))
def test_the_scan_accepts_literal_and_composed_sql(tmp_path, name):
    assert checker_on(tmp_path, GOOD[name]) == [], name
