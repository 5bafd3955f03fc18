"""The quarterly crontab line works from a clone that has never run: it makes logs/ itself (the
shell opens the log before make starts, and git keeps no empty folder), loads the key from its
file into make's environment, and the README shows the same line."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers import REPO

CRON = REPO / "examples/schedule/servegate-quarterly.cron"


def _cron_command() -> str:
    (line,) = [
        line for line in CRON.read_text().splitlines() if line and line[0].isdigit()
    ]  # the one schedule line: "0 6 1 1,4,7,10 *  COMMAND"
    return line.split(None, 5)[5]


def test_the_readme_shows_the_same_line() -> None:
    assert _cron_command() in (REPO / "README.md").read_text()


def test_the_line_runs_in_a_clone_without_a_logs_folder(tmp_path: Path) -> None:
    checkout = tmp_path / "servegate"
    (checkout / ".venv/bin").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # Stand-ins for `make quarterly` and `servegate regressions`: they record that they ran and
    # whether the key reached them (never the key itself).
    (bin_dir / "make").write_text('#!/bin/sh\necho "make $1, key ${OPENAI_API_KEY:+set}"\n')
    (checkout / ".venv/bin/servegate").write_text('#!/bin/sh\necho "servegate $1" > ran.txt\n')
    for script in (bin_dir / "make", checkout / ".venv/bin/servegate"):
        script.chmod(0o755)
    env_file = tmp_path / "env"
    env_file.write_text("OPENAI_API_KEY=sk-not-a-real-key\n")
    command = _cron_command().replace("/srv/servegate", str(checkout))
    command = command.replace("/etc/servegate/env", str(env_file))
    assert not (checkout / "logs").exists()

    subprocess.run(
        ["/bin/sh", "-c", command],  # cron runs its lines with /bin/sh
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)},
        check=True,
        timeout=30,
    )

    assert (checkout / "logs/quarterly.log").read_text() == "make quarterly, key set\n"
    assert (checkout / "ran.txt").read_text() == "servegate regressions\n"
