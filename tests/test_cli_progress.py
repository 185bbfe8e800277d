"""Progress for the long commands: drawn on a terminal (a real pseudo-terminal here), never into cron logs."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from rich.console import Console
from rich.progress import Progress

from sla_engine.cli import main
from sla_engine.cli.progress import Bars
from tests.test_cli import invoke_in

AS_OF = "2026-11-20T18:00:00Z"
COMMANDS = {  # each long command, and the bar it draws
    "evaluate": (["evaluate", "--as-of", AS_OF, "--db", "fresh.db", "--dry-run"], ["reading sample", "judging leads"]),
    "deliver": (["deliver", "--dry-run", "--as-of", AS_OF], ["delivering (outbox rows)"]),
    "report": (["report", "--as-of", AS_OF], ["building the report"]),
    "diff": (["diff", "policies", "policies_new", "--as-of", AS_OF], ["judging leads under both policy sets"]),
    "diff of an event log": (["diff", "policies", "policies_new", "--as-of", AS_OF, "--events", "csv:data/events.csv"],
                             ["reading events.csv", "judging leads under both policy sets"]),
    "report --send": (["report", "--send", "--as-of", AS_OF], ["building the review", "delivering (outbox rows)"]),
}
CURSOR_HIDDEN = "\x1b[?25l"  # what rich writes first when it draws a live bar


@pytest.fixture(scope="module")
def repository(tmp_path_factory) -> Path:
    """The starter repository `init` writes, evaluated once (so deliver, report and diff have a store)."""
    root = tmp_path_factory.mktemp("progress")
    assert invoke_in(root, main, "init", "repo").exit_code == 0
    repo = root / "repo"
    assert invoke_in(repo, main, "evaluate", "--as-of", AS_OF, "--no-deliver").exit_code in (0, 2)
    new = repo / "policies_new"
    new.mkdir()
    policy = (repo / "policies" / "one_page.sla").read_text(encoding="utf-8")
    (new / "one_page.sla").write_text(policy.replace("24h", "12h", 1), encoding="utf-8")
    assert "12h" in (new / "one_page.sla").read_text(encoding="utf-8")
    return repo


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "COLUMNS")}
    env.pop("SLA_ENGINE_SMTP_HOST", None)
    return {**env, "TERM": "xterm-256color"}


def on_terminal(repo: Path, args: list[str], stdout_piped: bool = False) -> tuple[int, str]:
    """Run the command with standard error (and output, unless piped) on a 100-column pseudo-terminal;
    what the terminal shows."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    process = subprocess.Popen([sys.executable, "-m", "sla_engine.cli", *args], cwd=repo, env=environment(),
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL if stdout_piped else follower,
                               stderr=follower, close_fds=True)
    os.close(follower)
    drawn = bytearray()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the command ended and closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    return process.wait(timeout=120), drawn.decode("utf-8", "replace")


def piped(repo: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run the command as cron does: both streams into files (here pipes)."""
    return subprocess.run([sys.executable, "-m", "sla_engine.cli", *args], cwd=repo, env=environment(),
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_long_command_draws_its_progress_on_a_terminal(repository, command):
    args, bars = COMMANDS[command]
    code, drawn = on_terminal(repository, args)
    assert code in (0, 2, 3), drawn
    assert CURSOR_HIDDEN in drawn
    for bar in bars:
        assert bar in drawn, drawn


@pytest.mark.parametrize("command", list(COMMANDS))
def test_nothing_of_the_progress_reaches_a_log(repository, command):
    args, bars = COMMANDS[command]
    result = piped(repository, args)
    assert result.returncode in (0, 2, 3), result.stderr
    for stream in (result.stdout, result.stderr):
        assert "\x1b" not in stream and "\r" not in stream
        assert not any(bar in stream for bar in bars)


def test_no_bar_when_the_results_go_to_a_file_or_a_pager(repository):
    # `sla-engine report > dashboard.txt` or `| less`: a bar drawn on the terminal would tangle with the pager.
    code, drawn = on_terminal(repository, ["report", "--as-of", AS_OF], stdout_piped=True)
    assert code == 0 and "\x1b" not in drawn and "building the report" not in drawn


def test_the_results_on_a_terminal_are_those_of_a_log(repository):
    # The bars are erased when the command ends: what is left to read is the report itself.
    code, drawn = on_terminal(repository, ["report", "--as-of", AS_OF, "--format", "markdown"])
    logged = piped(repository, ["report", "--as-of", AS_OF, "--format", "markdown"])
    assert code == logged.returncode == 0
    after_bars = drawn.rsplit(CURSOR_HIDDEN.replace("l", "h"), 1)[-1]  # rich shows the cursor again at the end
    assert after_bars.replace("\r\n", "\n").strip().splitlines()[-3:] == logged.stdout.strip().splitlines()[-3:]


def test_a_bar_redraws_a_few_times_a_second_however_often_it_is_told():
    progress = Progress(console=Console(file=io.StringIO(), force_terminal=True), auto_refresh=False)
    update = Bars(progress).bar("judging leads")
    started = time.perf_counter()
    for done in range(1, 200_001):
        update(done, 200_000)
    assert time.perf_counter() - started < 2  # a million-lead run pays next to nothing for its bar
    (task,) = progress.tasks
    assert (task.description, task.completed, task.total) == ("judging leads", 200_000, 200_000)


def test_without_a_terminal_a_bar_is_nothing():
    update = Bars(None).bar("judging leads")
    update(5, 10)  # no error, no output: nothing to draw on


def test_the_evaluate_summary_reads_whole_at_100_columns(repository):
    code, drawn = on_terminal(repository, ["evaluate", "--as-of", AS_OF, "--db", "wide.db"])
    assert code in (0, 2, 3), drawn
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn.rsplit("\x1b[?25h", 1)[-1]).replace("\r", "")
    lines = [line for line in shown.split("\n") if line.strip()]
    assert all(len(line) <= 100 for line in lines), "\n".join(line for line in lines if len(line) > 100)
    assert "…" not in shown  # no name or header cut short
    header = next(line for line in lines if line.split()[:2] == ["policy", "window"])
    assert header.split() == ["policy", "window", "tier", "met", "breached", "running", "paused", "cancelled", "n/a"]
    assert any(line.split()[:2] == ["one_page", "rejection_reason"] for line in lines)
    assert any(line.startswith("deliver: 0 sent in 0 message(s)") for line in lines)


def test_explain_on_a_terminal_wraps_long_lines_under_their_words_and_a_log_keeps_them_whole(repository):
    code, drawn = on_terminal(repository, ["explain", "L002", "--as-of", AS_OF])
    assert code == 0, drawn
    lines = drawn.replace("\r", "").split("\n")
    assert all(len(line) <= 100 for line in lines)
    start = next(i for i, line in enumerate(lines) if "[one_page/review] clock starts" in line)
    assert lines[start + 1] == " " * 25 + "due Tue 2026-11-17 11:00"
    logged = piped(repository, ["explain", "L002", "--as-of", AS_OF]).stdout
    assert any(len(line) > 100 and "clock starts" in line for line in logged.splitlines())  # grep finds it whole


def test_a_reading_bar_ends_at_the_whole_count_of_rows_read(repository):
    import csv

    with (repository / "data" / "events.csv").open(encoding="utf-8", newline="") as log:
        rows = sum(1 for _ in csv.DictReader(log))
    code, drawn = on_terminal(repository, COMMANDS["diff of an event log"][0])
    assert code == 0, drawn
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn)
    assert re.search(rf"reading events\.csv\s+━+ {rows}/{rows}\s", shown), shown  # not the last redraw's count
