"""The red-team script (tests/security/redteam.py, run by hand) cannot rot unnoticed: its deployment comes up —
a real redis-server with a password and AOF, the fake GitHub, a git remote, `equitr serve` and `equitr
worker` — and a few of its attacks run through the same functions and hold."""

from __future__ import annotations

from pathlib import Path

from tests.security import redteam


async def test_the_red_team_range_comes_up_and_a_few_attacks_hold(tmp_path: Path) -> None:
    lines: list[str] = []
    results = await redteam.run(
        [redteam.forged_signatures, redteam.metrics_and_files, redteam.pickle_in_redis], tmp_path, lines.append
    )
    assert [r.id for r in results] == ["W1", "C3", "ST2/S4j"], lines
    assert all(r.held for r in results), "\n".join(lines)
    assert lines[0].startswith("held  W1 ")


def test_the_script_is_not_collected_and_covers_every_row_of_the_table() -> None:
    assert redteam.__test__ is False
    names = {attack.__name__ for attack in redteam.ATTACKS}
    assert {"forged_job_record", "hostile_fix", "action_workflow_commands", "secrets_everywhere"} <= names
