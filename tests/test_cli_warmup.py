"""``optiserv warmup`` runs every warm-up step and exits cleanly."""

from __future__ import annotations

from typer.testing import CliRunner

from optiserv.cli import app
from optiserv.cli.warmup import WARMUP_STEPS, warm_up


def test_warm_up_reports_every_step_once() -> None:
    seen: list[str] = []
    total = warm_up(lambda label, seconds: seen.append(label) if seconds >= 0 else None)
    assert seen == [label for label, _ in WARMUP_STEPS]
    assert total > 0


def test_the_quiet_command_prints_nothing_and_exits_zero() -> None:
    result = CliRunner().invoke(app, ["warmup", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "Compiling" not in result.stdout and "Done" not in result.stdout
