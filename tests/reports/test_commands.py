"""`sla-engine report` and `sla-engine plan` as a person or a cron job runs them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import click
import pytest

from sla_engine.cli.reports import plan, report
from tests.reports.dataset import POLICY, build_store
from tests.test_cli import invoke_in


@click.group()
@click.pass_context
def cli(ctx: click.Context) -> None:
    """The main group as cli.py builds it, with the two commands registered."""
    ctx.ensure_object(dict)
    ctx.obj["config_path"] = None


cli.add_command(report)
cli.add_command(plan)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("project")
    (root / "policies").mkdir()
    (root / "policies" / "inbound.sla").write_text(POLICY, encoding="utf-8")
    (root / "sla-engine.toml").write_text('policies = "policies"\n', encoding="utf-8")
    _, store = build_store(root / "sla-engine.db")
    store.close()
    return root


def run(directory: Path, *args: str):
    return invoke_in(directory, cli, *args)


def test_report_text_defaults_to_the_last_runs_as_of(project):
    result = run(project, "report")
    assert result.exit_code == 0, result.output
    assert "SLA dashboard · 2026-12 (in progress) · as of 2026-12-02 17:00 UTC" in result.output
    assert "in 2026-W49 so far" in result.output  # weekly targets show their own current week
    assert all(len(line) <= 100 for line in result.output.splitlines())  # a terminal's width, no wrapping


@pytest.mark.parametrize("output", ["markdown", "json", "csv", "html", "text"])
def test_report_writes_every_format(project, output, tmp_path):
    out = tmp_path / f"report.{output}"
    result = run(project, "report", "--period", "2026-W47", "--format", output, "--out", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    if output == "json":
        assert json.loads(text)["period"] == "2026-W47"
    elif output == "csv":
        assert next(csv.reader(io.StringIO(text)))[0] == "section"
    elif output == "html":
        assert text.startswith("<!doctype html>") and "MQLs delivered" in text
    else:
        assert "MQLs delivered" in text and "✅ on target" in text


def test_report_refuses_a_bad_period_and_a_missing_store(project, tmp_path):
    result = run(project, "report", "--period", "2026-W99")
    assert result.exit_code == 1 and "no ISO week 99" in result.output
    result = run(project, "report", "--db", str(tmp_path / "none.db"))
    assert result.exit_code == 1 and "no store yet" in result.output


def test_plan_from_flags_prints_the_documents_numbers(tmp_path):
    result = run(tmp_path, "plan", "--revenue", "300000", "--deal-size", "25000", "--win-rate", "30%",
                 "--sql-to-opp", "50%", "--mql-to-sql", "25%")
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split()[1] for line in result.output.splitlines()[2:]}
    assert lines == {"clients": "12", "opportunities": "40", "sqls": "80", "mqls": "320"}


def test_plan_from_the_policy_with_observed_rates(project):
    result = run(project, "plan", "--format", "json")
    assert result.exit_code == 0, result.output
    (data,) = json.loads(result.output)
    assert data["plan"] == "inbound_2026"
    assert [s["needed"] for s in data["steps"]] == [12, 40, 80, 320]
    assert data["steps"][3]["observed"]["sample"] == 6
    flagged = run(project, "plan", "--win-rate", "20%")
    assert flagged.exit_code == 0 and " 60 " in flagged.output  # 12 clients at 20%: 60 opportunities


def test_plan_without_a_plan_says_what_to_give(tmp_path):
    result = run(tmp_path, "plan")
    assert result.exit_code == 1 and "--revenue" in result.output
    result = run(tmp_path, "plan", "--revenue", "300000", "--deal-size", "25000", "--win-rate", "abc")
    assert result.exit_code == 2 and "not a rate" in result.output
