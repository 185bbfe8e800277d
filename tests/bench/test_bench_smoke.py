"""The benchmark still runs end to end at a tiny size. Not timed: numbers live in bench/."""

from __future__ import annotations

import importlib.util
import json
import os

from bench import run as bench

# DuckDB (the peer query) is the benchmark extra: CI installs it; elsewhere the peer rows are left out without it.
WITH_PEER = bool(os.environ.get("CI")) or importlib.util.find_spec("duckdb") is not None


def test_the_benchmark_runs_every_measurement_and_writes_json(tmp_path):
    out = tmp_path / "results.json"
    assert bench.main(["--leads", "150", "--rss-leads", "100", "--rss-leads", "200", "--report-leads", "100",
                       "--workdir", str(tmp_path / "work"), "--out", str(out)]
                      + ([] if WITH_PEER else ["--no-peer"])) == 0
    rows = {row["name"].split(" (")[0]: row for row in json.loads(out.read_text())["rows"]}
    names = set(rows)
    assert {"ingest 150 leads", "full evaluation 150 leads", "incremental, 100 new events",
            "peak RSS 100 leads", "peak RSS 200 leads", "RSS growth 100 → 200", "sla-engine --help",
            "report 2026-Q4, 100 leads", "report 2026-10, 150 leads"} <= names
    assert any(name.startswith("check of ") for name in names)
    # evaluate as users run it (CLI, delivery on), with the child's own peak RSS
    delivery = rows["evaluate with delivery, 200 leads"]
    assert delivery["seconds"] > 0 and "MB peak" in delivery["note"] and "outbox" in delivery["note"]
    assert delivery["floor_name"] == "the same, --no-deliver" and delivery["floor_seconds"] > 0
    alone = rows["  deliver alone, 200 leads"]  # delivery on its own, over the store the --no-deliver run left
    assert alone["seconds"] > 0 and 5 < float(alone["note"].split()[0]) < 400
    assert 5 < float(rows["peak RSS 200 leads"]["note"].split()[0]) < 400
    assert rows["ingest 150 leads"]["seconds"] > 0 and rows["ingest 150 leads"]["floor_seconds"] > 0
    # full evaluation is also set beside reading the events and writing what it wrote
    assert rows["  full evaluation 150 leads"]["floor_name"] == "scan + write its results"
    assert rows["  full evaluation 150 leads"]["floor_seconds"] > 0
    # start-up is also set beside the floor of the stack it is built on, so our own share shows
    assert rows["  python -c 'import click'"]["floor_name"] == "python -c pass"
    assert rows["  sla-engine --help"]["floor_name"] == "click + plugin discovery"
    assert rows["  sla-engine --help"]["floor_seconds"] > 0
    if WITH_PEER:  # the engine beside the DuckDB query of the same verdicts, which agree
        assert rows["  peer: DuckDB, first_response, 150 leads"]["met"] is True
        alone = rows["  first_response alone, 150 leads"]
        assert alone["floor_name"] == "DuckDB query" and alone["floor_seconds"] > 0 and alone["seconds"] > 0
        whole = next(row for name, row in rows.items() if name.startswith("  full evaluation, "))
        assert whole["floor_name"].startswith("DuckDB query × ")
    check = next(row for name, row in rows.items() if name.startswith("check of "))
    assert int(check["name"].split()[2].replace(",", "")) >= 10_000


def test_ingest_only_measures_ingest_and_nothing_else(tmp_path):
    out = tmp_path / "results.json"
    assert bench.main(["--leads", "150", "--ingest-only", "--workdir", str(tmp_path / "work"), "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [row["name"].split(" (")[0] for row in rows] == ["ingest 150 leads"]


def test_the_postgresql_rows_measure_ingest_full_evaluation_by_1_2_and_4_processes_and_incremental(tmp_path,
                                                                                                    postgres):
    data = bench.generate(150, tmp_path / "events.csv")
    rows = {row.name.split(" (")[0]: row
            for row in bench.postgres_rows(150, data, (1.0, 1.0, 1.0), postgres.url(), tmp_path, chunk_leads=10)}
    assert set(rows) == {"PostgreSQL: ingest 150 leads", "PostgreSQL: full evaluation 150 leads, 1 process",
                         "PostgreSQL: full evaluation 150 leads, 2 processes",
                         "PostgreSQL: full evaluation 150 leads, 4 processes",
                         "PostgreSQL: incremental, 100 new events", "PostgreSQL: report 2026-10, 150 leads"}
    report = rows["PostgreSQL: report 2026-10, 150 leads"]  # beside SQLite's report of the same size
    assert report.floor_name == "SQLite report" and "MB peak" in report.note
    assert all(row.seconds and row.seconds > 0 for row in rows.values())
    assert rows["PostgreSQL: ingest 150 leads"].floor_name == "SQLite ingest"
    for count in (1, 2, 4):  # every lead judged once, shared among the processes
        note = rows[f"PostgreSQL: full evaluation 150 leads, {count} process{'es' if count > 1 else ''}"].note
        shares = note.split("leads judged per process ")[1].split(";")[0].split("/")
        assert len(shares) == count and sum(int(n) for n in shares) == 150
