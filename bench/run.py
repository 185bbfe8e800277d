"""Benchmarks: each measurement beside the floor it is judged against, as ratios.

    python bench/run.py --leads 10000 --leads 100000 [--rss-leads 100000 --rss-leads 1000000]
        [--postgres-leads 100000 [--postgres-url postgresql://…] [--postgres-processes 1 2 4]]

Prints one table and writes bench/out/results.json. Goals (docs/performance.md):
ingest ≤ 3× csv+executemany; full evaluation ≤ 3× one plain scan of the events table;
incremental run with 100 new events ≤ 2 % of the full run; peak RSS at 1M leads ≤ 500 MB and
≤ 2× the figure at 100k; `sla-engine --help` ≤ 4× `python -c pass`; check of 10,000 lines < 1 s.
Full evaluation and start-up are also set beside a second floor, what no implementation can
avoid (reading the events and writing the results; click with plugin discovery), so that what
our own code adds shows.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import platform
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "policies"
AS_OF = datetime(2026, 11, 1, tzinfo=timezone.utc)


@dataclass
class Row:
    name: str
    seconds: float | None = None
    floor_name: str = ""
    floor_seconds: float | None = None
    ratio: float | None = None
    goal: str = ""
    met: bool | None = None
    note: str = ""


def timed(work: Callable[[], object]) -> float:
    began = time.perf_counter()
    work()
    return time.perf_counter() - began


def generate(leads: int, out: Path, seed: int = 11) -> Path:
    """The benchmark's data: the example generator at the size asked, deterministic."""
    if not out.exists():
        subprocess.run(
            [sys.executable, str(ROOT / "examples" / "generate.py"), "--leads", str(leads), "--seed", str(seed),
             "--out", str(out)],
            check=True, stderr=subprocess.DEVNULL,
        )
    return out


# ---------------------------------------------------------------- measurements


def ingest(data: Path, db: Path | str) -> tuple[float, int]:
    from connectors.csv_source import read_event_log
    from sla_engine.store.backend import open_location
    from sla_engine.sync import ingest as ingest_source

    store = open_location(db)
    counts = None

    def work() -> None:
        nonlocal counts
        with store.transaction():
            # rows=True: as the csv connector hands an event log to the store (pull_rows)
            counts = ingest_source(store, "bench", read_event_log(data, rows=True), run_id=1)

    seconds = timed(work)
    store.close()
    assert counts is not None
    return seconds, counts.read


def ingest_floor(data: Path, db: Path) -> float:
    """csv-module parsing plus one plain executemany insert of the same rows."""
    connection = sqlite3.connect(db)
    connection.execute("CREATE TABLE raw (c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15)")

    def work() -> None:
        with open(data, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            width = len(next(reader))
            rows = (tuple((row + [""] * 16)[:16]) for row in reader)
            connection.executemany(f"INSERT INTO raw VALUES ({', '.join('?' * 16)})", rows)
        connection.commit()
        del width

    seconds = timed(work)
    connection.close()
    return seconds


def evaluate(db: Path, as_of: datetime, events: list | None = None, policy_set: Any = None) -> float:
    return evaluate_with_cpu(db, as_of, events, policy_set)[0]


def evaluate_with_cpu(db: Path | str, as_of: datetime, events: list | None = None,
                      policy_set: Any = None, workers: int | None = None,
                      rejudge: bool = False) -> tuple[float, float, float]:
    """Wall seconds of a run, and the CPU seconds of the run's own process and of its worker
    processes: on a loaded machine the CPU figures say what the wall time cannot. ``rejudge``:
    every lead is judged again, as after a policy change."""
    from sla_engine.language.policy_set import load_policy_set
    from sla_engine.runner import evaluate_run
    from sla_engine.store.backend import open_location

    policy_set = policy_set or load_policy_set([POLICIES])
    store = open_location(db)
    if rejudge:  # as if the policies had changed: the run queues every lead judged before
        with store.transaction():
            store.worklist.set_state("policy_hash", None)
        store.worklist.save_fingerprints({})  # every rule new: every lead judged before is queued
    sources = [("bench", iter(events))] if events else []
    cpu, workers_cpu = time.process_time(), _children_cpu()
    seconds = timed(lambda: evaluate_run(policy_set, store, sources, as_of, workers=workers))
    cpu, workers_cpu = time.process_time() - cpu, _children_cpu() - workers_cpu
    store.close()
    return seconds, cpu, workers_cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


PEER_POLICY, PEER_WINDOW = "inbound_tiered", "first_response"


def one_window_set() -> Any:
    """The shipped policy set with one window left: the first_response clock the peer query computes."""
    import dataclasses

    from sla_engine.language.policy_set import load_policy_set

    policy_set = load_policy_set([POLICIES])
    policy = policy_set.policies[PEER_POLICY]
    window = next(w for w in policy.windows if w.name == PEER_WINDOW)
    alone = policy.model_copy(update={"windows": [window], "targets": []})
    return dataclasses.replace(policy_set, policies={PEER_POLICY: alone})


def window_count() -> int:
    from sla_engine.language.policy_set import load_policy_set

    return sum(len(policy.windows) for policy in load_policy_set([POLICIES]).policies.values())


def engine_verdicts(db: Path) -> dict[str, int]:
    """The first_response instances a run left in the store, by status."""
    connection = sqlite3.connect(db)
    counts = dict(connection.execute(
        "SELECT status, count(*) FROM window_instances WHERE policy = ? AND window = ? GROUP BY status",
        (PEER_POLICY, PEER_WINDOW)).fetchall())
    connection.close()
    return counts


def peer(db: Path) -> tuple[float, dict[str, int]]:
    """The DuckDB query of bench/peer_query.py over the store's events: best of three, its counts."""
    from bench import peer_query

    connection = peer_query.load(db)
    counts: dict[str, int] = {}

    def work() -> None:
        nonlocal counts
        counts = peer_query.verdict_counts(connection, AS_OF)

    seconds = min(timed(work) for _ in range(3))
    connection.close()
    return seconds, counts


def copy_store(db: Path, to: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{to}{suffix}").unlink(missing_ok=True)
        if Path(f"{db}{suffix}").exists():
            shutil.copyfile(f"{db}{suffix}", f"{to}{suffix}")
    return to


def scan_events(db: Path) -> None:
    """One plain scan of the events table in lead order, payloads decoded."""
    connection = sqlite3.connect(db)
    for row in connection.execute("SELECT * FROM events ORDER BY lead_id, occurred_at, event_id"):
        json.loads(row[5])
    connection.close()


def scan_floor(db: Path) -> float:
    return timed(lambda: scan_events(db))


RESULT_TABLES = ("leads", "window_instances", "stage_entries", "outbox")


def read_write_floor(db: Path, workdir: Path) -> float:
    """The plain scan, plus writing the rows a full run wrote into empty copies of its tables.

    What any evaluation pays before it judges anything: the part of its time that is judging
    is the difference.
    """
    source = sqlite3.connect(db)
    marks = ", ".join("?" for _ in RESULT_TABLES)
    schema = [sql for (sql,) in source.execute(
        f"SELECT sql FROM sqlite_master WHERE tbl_name IN ({marks}) AND sql IS NOT NULL ORDER BY type DESC",
        RESULT_TABLES)]
    rows = {table: source.execute(f"SELECT * FROM {table}").fetchall() for table in RESULT_TABLES}
    source.close()
    target_path = workdir / "read-write-floor.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target_path}{suffix}").unlink(missing_ok=True)
    target = sqlite3.connect(target_path)
    target.execute("PRAGMA journal_mode=WAL")
    for sql in schema:
        target.execute(sql)
    target.commit()

    def work() -> None:
        scan_events(db)
        with target:
            for table, table_rows in rows.items():
                if table_rows:
                    width = len(table_rows[0])
                    target.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * width)})", table_rows)

    seconds = timed(work)
    target.close()
    return seconds


def new_events(db: Path, count: int, after: datetime) -> list:
    """Activities by each lead's owner, just after the last run: what a cron tick brings."""
    from sla_engine.events import LeadEvent

    connection = sqlite3.connect(db)
    rows = connection.execute(
        "SELECT lead_id, json_extract(state, '$.owner') FROM leads WHERE json_extract(state, '$.owner') IS NOT NULL "
        "ORDER BY lead_id LIMIT ?", (count,)
    ).fetchall()
    connection.close()
    return [
        LeadEvent.build(source="bench", lead_id=lead, type="activity",
                        occurred_at=after + timedelta(seconds=i % 600),
                        payload={"channel": "call", "by": owner, "direction": "outbound"}, key=f"bench{i}")
        for i, (lead, owner) in enumerate(rows)
    ]


# Run in each measured child: at exit it writes the child's own peak resident set (VmHWM, reset
# when the process image is replaced). `ru_maxrss` is not used: Linux carries the parent's
# high-water mark into the child across fork and exec, so it reports the benchmark itself.
_PEAK_AT_EXIT = """
import atexit as _atexit, os as _os
def _write_peak():
    with open('/proc/self/status', encoding='ascii') as status:
        peak = next(line.split()[1] for line in status if line.startswith('VmHWM:'))
    with open(_os.environ['SLA_BENCH_PEAK_FILE'], 'w', encoding='ascii') as out:
        out.write(peak)
_atexit.register(_write_peak)
"""


def child_run(code: str, workdir: Path, ok_codes: tuple[int, ...] = (0,)) -> tuple[float, float, str]:
    """Run `code` in a fresh interpreter: wall seconds, the child's own peak RSS in MB (Linux), its stdout.

    The child gets no SLA_ENGINE_* variables, so a benchmark never sends real email or webhooks.
    """
    peak_file = workdir / "child-peak.kb"
    peak_file.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLA_ENGINE_")}
    env["SLA_BENCH_PEAK_FILE"] = str(peak_file)
    command = [sys.executable, "-c", _PEAK_AT_EXIT + code]
    done = None

    def work() -> None:
        nonlocal done
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT, env=env)
        if done.returncode not in ok_codes:
            raise subprocess.CalledProcessError(done.returncode, command, done.stdout, done.stderr)

    seconds = timed(work)
    return seconds, int(peak_file.read_text(encoding="ascii")) / 1024, done.stdout


def peak_rss(leads: int, workdir: Path) -> float:
    """Peak RSS in MB of a whole ingest + evaluate run (no delivery), in a fresh process."""
    data = generate(leads, workdir / f"events-{leads}.csv")
    db = workdir / f"rss-{leads}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); import bench.run as b; "
        f"from pathlib import Path; b.ingest(Path({str(data)!r}), Path({str(db)!r})); "
        f"b.evaluate(Path({str(db)!r}), b.AS_OF)"
    )
    return child_run(code, workdir)[1]


def evaluate_as_users_run_it(leads: int, workdir: Path, deliver: bool = True) -> tuple[float, float, dict[str, int]]:
    """`sla-engine evaluate` from the CLI over a fresh store: seconds, peak MB, outbox rows by status.

    Sync, judging, recording and delivery in one child, as cron runs it (text output: `--format
    json` would keep every instance for the output). No SMTP host or webhook is configured, so
    messages fail at their notifier (recorded on their rows) instead of being sent: the cost
    measured is the engine's (loading, expiring, grouping, recording), not a mail server's.
    """
    data = generate(leads, workdir / f"events-{leads}.csv")
    db = workdir / f"delivery-{leads}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    config = workdir / f"delivery-{leads}.toml"
    config.write_text(
        f"policies = {json.dumps(str(POLICIES))}\ndb = {json.dumps(str(db))}\n\n"
        f"[[sources]]\nname = \"bench\"\ntype = \"csv\"\npath = {json.dumps(str(data))}\n", encoding="utf-8")
    extra = "" if deliver else ", '--no-deliver'"
    code = (
        "import sys; from sla_engine.cli import main; "
        f"sys.argv = ['sla-engine', '--config', {str(config)!r}, 'evaluate', '--as-of', {AS_OF.isoformat()!r}{extra}]; "
        "main()"
    )
    # Exit 3 says some messages failed: a benchmark has no mail server, and that is expected here.
    seconds, peak, _ = child_run(code, workdir, ok_codes=(0, 3))
    connection = sqlite3.connect(db)
    outbox = dict(connection.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
    connection.close()
    return seconds, peak, outbox


def deliver_alone(leads: int, workdir: Path) -> tuple[float, float]:
    """`sla-engine deliver` over the store `evaluate --no-deliver` left: seconds and the child's peak MB.

    Run right after ``evaluate_as_users_run_it(leads, workdir, deliver=False)``: the delivery cost
    on its own (expiring the backlog, reading due rows, recording failures), without judging.
    """
    config = workdir / f"delivery-{leads}.toml"
    code = (
        "import sys; from sla_engine.cli import main; "
        f"sys.argv = ['sla-engine', '--config', {str(config)!r}, 'deliver', '--as-of', {AS_OF.isoformat()!r}]; "
        "main()"
    )
    seconds, peak, _ = child_run(code, workdir, ok_codes=(0, 3))
    return seconds, peak


# What any click CLI whose plugins are found by entry point pays before its own code runs.
STACK_FLOOR = "import click, pluggy, importlib.metadata as m; m.entry_points(group='sla_engine')"


def startup() -> tuple[float, float, float, float]:
    """`--help`, `python -c pass`, `import click`, and click + pluggy + entry-point discovery."""
    def best(code: str) -> float:
        command = [sys.executable, "-c", code]
        return min(timed(lambda: subprocess.run(command, capture_output=True, check=True)) for _ in range(11))

    cli = best("import sys; from sla_engine.cli import main; sys.argv=['sla-engine', '--help']; main()")
    return cli, best("pass"), best("import click"), best(STACK_FLOOR)


def big_policy_set(directory: Path, lines: int = 10_000) -> Path:
    """The shipped set plus renamed copies of its policy files, until the set has `lines` lines."""
    import re

    sources = {p.name: p.read_text(encoding="utf-8") for p in sorted(POLICIES.glob("*.sla"))}
    directory.mkdir(parents=True, exist_ok=True)
    total = 0
    for name, text in sources.items():
        (directory / name).write_text(text, encoding="utf-8")
        total += text.count("\n")
    shared = re.compile(r"^(field|score|define|stage|calendar|contact|team|plan)\s", re.MULTILINE)
    copyable = {name: text for name, text in sources.items() if "policy " in text and not shared.search(text)}
    if not copyable:
        raise SystemExit("no policy-only file in policies/ to copy")
    policy_names = re.compile(r"^policy\s+(\w+)", re.MULTILINE)
    copy = 0
    while total < lines:
        copy += 1
        for name, text in copyable.items():
            renamed = policy_names.sub(lambda m, n=copy: f"policy {m.group(1)}_{n}", text)
            (directory / f"{copy:04d}_{name}").write_text(renamed, encoding="utf-8")
            total += renamed.count("\n")
    return directory


def report_time(leads: int, workdir: Path) -> float:
    """`report --period 2026-Q4` over a synthetic quarter of `leads` leads, every format rendered."""
    from bench.synthetic_store import POLICY_TEXT, QUARTER_START, fill
    from sla_engine.language.parser import parse_text
    from sla_engine.language.policy_set import build_policy_set
    from sla_engine.reports.dashboard import build_report
    from sla_engine.reports.render import render
    from sla_engine.store.db import Store

    db = workdir / f"report-{leads}.db"
    fresh = not db.exists()
    store = Store(db)
    if fresh:
        fill(store, leads, QUARTER_START)
    policies = build_policy_set([parse_text(POLICY_TEXT, "p.sla")], {"p.sla": POLICY_TEXT})

    def work() -> None:
        report = build_report(policies, store, QUARTER_START + timedelta(days=92), "2026-Q4")
        for output in ("text", "html", "csv", "json", "markdown"):
            render(report, output)

    seconds = timed(work)
    store.close()
    return seconds


REPORT_PERIOD = "2026-10"  # the last month of the generated data


def report_seconds(location: str) -> float:
    """`report --period 2026-10` over an evaluated store (the bench's policies), every format rendered."""
    from sla_engine.language.policy_set import load_policy_set
    from sla_engine.reports.dashboard import build_report
    from sla_engine.reports.render import render
    from sla_engine.store.backend import open_location

    policies = load_policy_set([POLICIES])
    store = open_location(location)

    def work() -> None:
        store.prepare_for_reports()
        report = build_report(policies, store, AS_OF + timedelta(hours=1), REPORT_PERIOD)
        for output in ("text", "html", "csv", "json", "markdown"):
            render(report, output)

    seconds = timed(work)
    store.close()
    return seconds


def report_in_child(location: str, workdir: Path) -> tuple[float, float]:
    """``report_seconds`` in a fresh process: its seconds and the process's peak RSS in MB."""
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); import bench.run as b; "
            f"print(b.report_seconds({location!r}))")
    _, peak, out = child_run(code, workdir)
    return float(out.strip().splitlines()[-1]), peak


def check_time(directory: Path) -> tuple[float, int]:
    from sla_engine.language.check import check_paths

    lines = sum(p.read_text().count("\n") for p in directory.glob("*.sla"))
    best = min(timed(lambda: check_paths([directory])) for _ in range(3))
    diagnostics, _ = check_paths([directory])
    if diagnostics:
        raise SystemExit(f"the generated policy set has {len(diagnostics)} errors: {diagnostics[0]}")
    return best, lines


# ---------------------------------------------------------------- the run


def run(sizes: list[int], rss_sizes: list[int], workdir: Path, report_sizes: list[int] = (),
        ingest_only: bool = False, with_peer: bool = True, postgres_sizes: list[int] = (),
        postgres_url: str | None = None, postgres_processes: Sequence[int] = (1, 2, 4)) -> list[Row]:
    rows: list[Row] = []
    sqlite_figures: dict[int, tuple[float, float, float]] = {}  # leads → (ingest, full evaluation, report) on SQLite
    for leads in sizes:
        data = generate(leads, workdir / f"events-{leads}.csv")
        db = workdir / f"store-{leads}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        seconds, read = ingest(data, db)
        floor_db = workdir / f"floor-{leads}.db"
        floor_db.unlink(missing_ok=True)
        floor = ingest_floor(data, floor_db)
        rows.append(Row(f"ingest {leads:,} leads ({read:,} rows)", seconds, "csv + executemany", floor,
                        seconds / floor, "≤ 3×", seconds / floor <= 3))
        if ingest_only:
            continue
        one_window_db = copy_store(db, workdir / f"one-window-{leads}.db")
        full, cpu, workers_cpu = evaluate_with_cpu(db, AS_OF)
        scan = scan_floor(db)
        rows.append(Row(f"full evaluation {leads:,} leads", full, "plain scan of events", scan, full / scan,
                        "≤ 3×", full / scan <= 3,
                        note=f"CPU: run {cpu:.2f} s, workers {workers_cpu:.2f} s; load {os.getloadavg()[0]:.1f}"))
        if with_peer:
            rows.extend(peer_rows(leads, db, one_window_db, full))
        read_write = read_write_floor(db, workdir)
        rows.append(Row(f"  full evaluation {leads:,} leads", full, "scan + write its results", read_write,
                        full / read_write, "report", None, note="what judging adds"))
        count = max(leads // 100, 1)
        events = new_events(db, count, AS_OF + timedelta(minutes=5))
        one_percent = evaluate(db, AS_OF + timedelta(minutes=15), events)
        rows.append(Row(f"incremental, 1 % new events ({len(events):,})", one_percent, "full run", full,
                        one_percent / full, "report", None))
        events = new_events(db, 100, AS_OF + timedelta(minutes=20))
        hundred = evaluate(db, AS_OF + timedelta(minutes=30), events)
        rows.append(Row("incremental, 100 new events", hundred, "full run", full, hundred / full, "≤ 2 %",
                        hundred / full <= 0.02))
        report, peak = report_in_child(str(db), workdir)
        rows.append(Row(f"report {REPORT_PERIOD}, {leads:,} leads", report, "", None, None, "report", None,
                        note=f"{peak:.0f} MB peak (the whole process); every format rendered"))
        sqlite_figures[leads] = (seconds, full, report)
    for leads in postgres_sizes:
        rows.extend(postgres_rows(leads, generate(leads, workdir / f"events-{leads}.csv"), sqlite_figures.get(leads),
                                  postgres_url, workdir, postgres_processes))
    if ingest_only:
        return rows
    rss: dict[int, float] = {}
    for leads in rss_sizes:
        rss[leads] = peak_rss(leads, workdir)
        rows.append(Row(f"peak RSS {leads:,} leads", None, "", None, None, "≤ 500 MB" if leads >= 1_000_000 else "",
                        rss[leads] <= 500 if leads >= 1_000_000 else None, note=f"{rss[leads]:.0f} MB"))
    for leads in rss_sizes:
        seconds, peak, delivered = evaluate_as_users_run_it(leads, workdir)
        quiet, quiet_peak, _ = evaluate_as_users_run_it(leads, workdir, deliver=False)
        big = leads >= 1_000_000
        rows.append(Row(f"evaluate with delivery, {leads:,} leads", seconds, "the same, --no-deliver", quiet,
                        seconds / quiet, "≤ 500 MB" if big else "", peak <= 500 if big else None,
                        note=f"{peak:.0f} MB peak ({quiet_peak:.0f} MB without delivery); outbox "
                             + ", ".join(f"{n:,} {status}" for status, n in sorted(delivered.items()))))
        alone, alone_peak = deliver_alone(leads, workdir)
        rows.append(Row(f"  deliver alone, {leads:,} leads", alone, "", None, None, "", None,
                        note=f"{alone_peak:.0f} MB peak, over the store --no-deliver left"))
    if len(rss) >= 2:
        small, large = min(rss), max(rss)
        ratio = rss[large] / rss[small]
        rows.append(Row(f"RSS growth {small:,} → {large:,}", None, "", None, ratio, "≤ 2×", ratio <= 2))
    for leads in report_sizes:
        seconds = report_time(leads, workdir)
        rows.append(Row(f"report 2026-Q4, {leads:,} leads", seconds, "", None, None, "seconds", None))
    cli, bare, click_only, stack = startup()
    rows.append(Row("sla-engine --help", cli, "python -c pass", bare, cli / bare, "≤ 4×", cli / bare <= 4))
    rows.append(Row("  python -c 'import click'", click_only, "python -c pass", bare, click_only / bare, "report",
                    None, note="the floor of any click CLI"))
    rows.append(Row("  sla-engine --help", cli, "click + plugin discovery", stack, cli / stack, "report", None,
                    note="what our own code adds"))
    seconds, lines = check_time(big_policy_set(workdir / "policy-set"))
    rows.append(Row(f"check of {lines:,} lines", seconds, "", None, None, "< 1 s", seconds < 1))
    return rows


def postgres_rows(leads: int, data: Path, sqlite: tuple[float, float, float] | None, url: str | None,
                  workdir: Path, processes: Sequence[int] = (1, 2, 4), chunk_leads: int | None = None) -> list[Row]:
    """The same ingest and evaluations against PostgreSQL: a new database on the server at ``url``
    (a throwaway cluster when none is given), beside the SQLite figures of the same size. The full
    evaluation is run as users run it on several machines: `sla-engine evaluate` and N - 1
    `sla-engine evaluate --join`, each judging in its own process."""
    import psycopg

    from tests.pg_cluster import start_cluster

    cluster = None if url else start_cluster()
    admin = url or cluster.url()  # type: ignore[union-attr]
    name = f"sla_bench_{leads}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    location = urlunsplit(urlsplit(admin)._replace(path=f"/{name}"))
    try:
        seconds, read = ingest(data, location)
        rows = [Row(f"PostgreSQL: ingest {leads:,} leads ({read:,} rows)", seconds, "SQLite ingest",
                    sqlite[0] if sqlite else None, seconds / sqlite[0] if sqlite else None, "report", None)]
        full = None
        for count in processes:
            seconds, cpu, server, judged = evaluate_processes(location, AS_OF, count, chunk_leads,
                                                              cluster.directory / "data" if cluster else None)
            full = full or seconds
            label = "1 process" if count == 1 else f"{count} processes (1 run + {count - 1} --join)"
            rows.append(Row(f"PostgreSQL: full evaluation {leads:,} leads, {label}", seconds,
                            "SQLite full evaluation", sqlite[1] if sqlite else None,
                            seconds / sqlite[1] if sqlite else None, "report", None,
                            note=f"CPU: processes {cpu:.1f} s, server {server:.1f} s; leads judged per process "
                                 f"{'/'.join(f'{n:,}' for n in judged)}; load {os.getloadavg()[0]:.1f}"))
        assert full is not None
        events = postgres_new_events(location, 100, AS_OF + timedelta(minutes=20))
        hundred = evaluate(location, AS_OF + timedelta(minutes=30), events)
        rows.append(Row("PostgreSQL: incremental, 100 new events", hundred, "its full run", full, hundred / full,
                        "≤ 2 %", hundred / full <= 0.02))
        report, peak = report_in_child(location, workdir)
        rows.append(Row(f"PostgreSQL: report {REPORT_PERIOD}, {leads:,} leads", report, "SQLite report",
                        sqlite[2] if sqlite else None, report / sqlite[2] if sqlite else None, "report", None,
                        note=f"{peak:.0f} MB peak (the whole process)"))
        return rows
    finally:
        if cluster:
            cluster.stop()


def evaluate_processes(location: str, as_of: datetime, count: int, chunk_leads: int | None = None,
                       data_dir: Path | None = None) -> tuple[float, float, float, list[int]]:
    """A full re-judge by ``count`` processes of the command users run: wall seconds from the first
    start to the last exit, the CPU seconds of those processes and of the database server's (when
    it runs here), and how many leads each judged."""
    from sla_engine.store.backend import open_location

    store = open_location(location)
    with store.transaction():  # as if the policies had changed: the run queues every lead judged before
        store.worklist.set_state("policy_hash", None)
        store.worklist.save_fingerprints({})  # every rule new: every lead judged before is queued
    store.close()
    common = ["--policies", str(POLICIES), "--db", location, "--judging-processes", "0", "--rejudge-seconds",
              "100000000", "--format", "json"]
    command = [sys.executable, "-m", "sla_engine.cli", "evaluate"]
    before, server_before = _children_cpu(), _server_cpu(data_dir)
    started = time.perf_counter()
    joiners = [subprocess.Popen([*command, *common, "--join", "--lock-timeout", "600"], stdout=subprocess.PIPE)
               for _ in range(count - 1)]
    if joiners:
        time.sleep(2)  # up and waiting for the run to open, as on hosts started a little before it
    chunks = ["--chunk-leads", str(chunk_leads)] if chunk_leads else []
    run = subprocess.run([*command, *common, *chunks, "--no-sync", "--no-deliver", "--as-of", as_of.isoformat()],
                         stdout=subprocess.PIPE, check=True)
    outputs = [json.loads(joiner.communicate()[0]) for joiner in joiners]
    seconds = time.perf_counter() - started
    judged = [json.loads(run.stdout)["run"]["leads_evaluated"]]
    joined = [output["joined"]["leads_judged"] if output["joined"] else 0 for output in outputs]
    judged = [judged[0] - sum(joined), *joined]
    return seconds, _children_cpu() - before, _server_cpu(data_dir) - server_before, judged


def _server_cpu(data_dir: Path | None) -> float:
    """CPU seconds the PostgreSQL server of ``data_dir`` has spent (Linux /proc): its postmaster's own
    and its ended backends' (reaped, so counted in the postmaster's children times), plus its live
    backends'. The share of a run's work that moves into the database. NaN for a server elsewhere."""
    if data_dir is None:
        return float("nan")
    postmaster = int((data_dir / "postmaster.pid").read_text().split()[0])
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            values = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        pid, parent = int(stat.parent.name), int(values[1])
        if pid == postmaster:
            total += sum(int(v) for v in values[11:15])  # utime, stime, cutime, cstime
        elif parent == postmaster:
            total += int(values[11]) + int(values[12])
    return total / ticks


def postgres_new_events(location: str, count: int, after: datetime) -> list:
    """As ``new_events``, read from a PostgreSQL store."""
    import psycopg

    from sla_engine.events import LeadEvent

    with psycopg.connect(location) as conn:
        rows = conn.execute("SELECT lead_id, state::json->>'owner' FROM leads WHERE state::json->>'owner' IS NOT NULL "
                            "ORDER BY lead_id LIMIT %s", (count,)).fetchall()
    return [
        LeadEvent.build(source="bench", lead_id=lead, type="activity",
                        occurred_at=after + timedelta(seconds=i % 600),
                        payload={"channel": "call", "by": owner, "direction": "outbound"}, key=f"bench{i}")
        for i, (lead, owner) in enumerate(rows)
    ]


def peer_rows(leads: int, db: Path, one_window_db: Path, full: float) -> list[Row]:
    """The engine beside a hand-written DuckDB query of the same first_response verdicts: the
    window alone, and the whole set against the query's cost per window."""
    seconds, counts = peer(db)
    agrees = counts == engine_verdicts(db)
    alone = evaluate(one_window_db, AS_OF, policy_set=one_window_set())
    windows = window_count()
    shown = ", ".join(f"{n:,} {status}" for status, n in sorted(counts.items()))
    return [
        Row(f"  peer: DuckDB, first_response, {leads:,} leads", seconds, "", None, None, "agree", agrees,
            note=f"agrees with the engine: {'yes' if agrees else 'NO'} ({shown}); one thread"),
        Row(f"  first_response alone, {leads:,} leads", alone, "DuckDB query", seconds, alone / seconds, "≤ 3×",
            alone / seconds <= 3),
        Row(f"  full evaluation, {windows} windows, {leads:,} leads", full, f"DuckDB query × {windows}",
            seconds * windows, full / (seconds * windows), "≤ 3×", full / (seconds * windows) <= 3),
    ]


def render(rows: list[Row]) -> str:
    header = f"{'measurement':44} {'seconds':>9} {'floor':>32} {'ratio':>8}  {'goal':8} {'met':4} note"
    lines = [header, "-" * len(header)]
    for r in rows:
        seconds = f"{r.seconds:9.3f}" if r.seconds is not None else " " * 9
        floor = f"{r.floor_name} {r.floor_seconds:.3f}" if r.floor_seconds is not None else ""
        ratio = f"{r.ratio:8.3f}" if r.ratio is not None else " " * 8
        met = {True: "yes", False: "NO", None: ""}[r.met]
        lines.append(f"{r.name:44} {seconds} {floor:>32} {ratio}  {r.goal:8} {met:4} {r.note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, action="append", help="sizes for ingest and evaluation")
    parser.add_argument("--rss-leads", type=int, action="append", default=None, help="sizes for peak RSS")
    parser.add_argument("--report-leads", type=int, action="append", default=None,
                        help="sizes for the quarterly report (synthetic store)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep generated data here between runs")
    parser.add_argument("--no-peer", action="store_true", help="leave out the DuckDB peer query")
    parser.add_argument("--ingest-only", action="store_true", help="measure only ingest against its floor")
    parser.add_argument("--postgres-leads", type=int, action="append", default=None,
                        help="sizes for ingest and evaluation against PostgreSQL (beside SQLite's of the same size)")
    parser.add_argument("--postgres-url", help="a server to create the benchmark's database on (default: a "
                        "throwaway cluster, as the tests start)")
    parser.add_argument("--postgres-processes", type=int, nargs="+", default=[1, 2, 4],
                        help="how many evaluate processes judge PostgreSQL's full evaluation, one row each")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "results.json")
    args = parser.parse_args(argv)
    sizes = args.leads or [10_000]
    rss_sizes = args.rss_leads if args.rss_leads is not None else []
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="sla-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    with_peer = not args.no_peer and not args.ingest_only  # ingest alone has no peer query
    if with_peer and importlib.util.find_spec("duckdb") is None:
        parser.error("the peer query needs DuckDB: pip install -e '.[bench]' (or pass --no-peer)")
    rows = run(sizes, rss_sizes, workdir, args.report_leads or [], ingest_only=args.ingest_only, with_peer=with_peer,
               postgres_sizes=args.postgres_leads or [], postgres_url=args.postgres_url,
               postgres_processes=args.postgres_processes)
    print(render(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"python": platform.python_version(), "machine": platform.machine(), "system": platform.system(),
               "cpus": __import__("os").cpu_count(),
               "max_rss_self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    args.out.write_text(json.dumps({"machine": machine, "rows": [asdict(r) for r in rows]}, indent=2))
    print(f"\nwritten {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
