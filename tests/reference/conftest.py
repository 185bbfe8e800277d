"""After the differential tests: how many histories ran, and what they found that is already known."""

from __future__ import annotations

from tests.reference.histories import TALLY


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not TALLY.histories:
        return
    terminalreporter.write_line(
        f"reference evaluator: {TALLY.histories} generated histories judged, {TALLY.agreed} agreed outright"
    )
    for tag, count in sorted(TALLY.known.items()):
        terminalreporter.write_line(f"  known, not yet fixed ({count} histories): {tag}")
