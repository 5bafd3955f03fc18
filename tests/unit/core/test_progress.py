"""Progress lines: readable in a log, overwritten in place only on a terminal, relayed live
from a child process, and summarized (not framed) where a notebook keeps them."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from servegate.core.progress import (
    FILE_ENV,
    INTERVAL_ENV,
    MODE_ENV,
    echo_line,
    format_duration,
    log_message,
    plural,
    progress_mode,
    relay,
    reporter,
    strip_ansi,
)

ESC = "\x1b"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_durations_and_counts_read_as_a_person_writes_them() -> None:
    assert format_duration(42.4) == "42 s"
    assert format_duration(96) == "1 min 36 s"
    assert format_duration(3725) == "1 h 02 min"
    assert plural(1, "request") == "1 request"
    assert plural(3, "request") == "3 requests"


def test_ansi_colours_are_stripped_from_a_log_line() -> None:
    line = f"{ESC}[1;36m(APIServer pid=12){ESC}[0;0m INFO Starting vLLM"
    assert strip_ansi(line) == "(APIServer pid=12) INFO Starting vLLM"


def test_the_environment_picks_the_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODE_ENV, "off")
    assert progress_mode() == "off"
    monkeypatch.setenv(MODE_ENV, "lines")
    assert progress_mode() == "lines"
    monkeypatch.delenv(MODE_ENV)
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal, not a kernel
    assert progress_mode() == "lines"


def test_a_counter_in_a_log_says_done_ok_failed_elapsed_and_eta(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(FILE_ENV, raising=False)
    monkeypatch.setenv(INTERVAL_ENV, "0")
    task = reporter("lines").counter("vllm c8", 4)
    for ok in (True, True, False, True):
        task.advance(ok)
    task.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("vllm c8: 1/4 requests (1 ok, 0 failed), 0 s elapsed, ETA ")
    assert lines[2].startswith("vllm c8: 3/4 requests (2 ok, 1 failed)")
    assert lines[-1] == "vllm c8: 4/4 requests (3 ok, 1 failed) in 0 s"
    assert ESC not in "".join(lines)


def test_updates_come_at_most_once_per_interval(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(FILE_ENV, raising=False)
    monkeypatch.setenv(INTERVAL_ENV, "3600")
    task = reporter("lines").counter("c1", 500)
    for _ in range(500):
        task.advance()
    task.close()
    assert capsys.readouterr().err.splitlines() == [
        "c1: 500/500 requests (500 ok, 0 failed) in 0 s"
    ]


def test_a_waiter_shows_the_usual_duration_not_the_timeout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(FILE_ENV, raising=False)
    monkeypatch.setenv(INTERVAL_ENV, "0")
    wait = reporter("lines").waiter("vLLM starting", 96.0, "usually ~1 min 36 s here")
    log_line = f"{ESC}[1;36m(EngineCore pid=812){ESC}[0;0m INFO 11-30 15:53:53 [x.py:87] Loading"
    wait.tick(log_line)
    wait.close("vLLM ready after 97 s")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "vLLM starting (usually ~1 min 36 s here)"
    assert lines[1] == "vLLM starting: 0 s of usually ~1 min 36 s; Loading"
    assert lines[2] == "vLLM ready after 97 s"


def test_a_log_line_loses_its_prefix_and_is_cut_at_the_end() -> None:
    line = f"{ESC}[1;36m(APIServer pid=1){ESC}[0;0m WARNING 11-30 15:53:31 [omp.py:185] " + "x" * 90
    assert log_message(line) == "x" * 79 + "…"
    assert log_message("Triton is installed.") == "Triton is installed."


def test_with_a_progress_file_the_notebook_keeps_only_lasting_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    live = tmp_path / "live.log"
    monkeypatch.setenv(FILE_ENV, str(live))
    monkeypatch.setenv(INTERVAL_ENV, "0")
    say = reporter("lines")
    say.stage("vllm run r1: smollm2")
    task = say.counter("vllm c1", 2)
    task.advance()
    task.advance()
    task.close()
    kept = capsys.readouterr().out.splitlines()
    assert kept == ["vllm run r1: smollm2", "vllm c1: 2/2 requests (2 ok, 0 failed) in 0 s"]
    marked = live.read_text().splitlines()
    assert marked[0] == "P vllm run r1: smollm2"
    assert marked[1].startswith("T vllm c1: 1/2 requests")
    assert marked[-1].startswith("P vllm c1: 2/2")


def test_a_log_gets_every_line_plainly_and_a_terminal_overwrites_updates() -> None:
    lines = ["P stage one", "T c8: 1/2", "T c8: 2/2", "P c8 done"]
    log, tty = io.StringIO(), _Tty()
    for sink in (log, tty):
        pending = [False]
        for line in lines:
            echo_line(line, sink, pending=pending)
    assert log.getvalue() == "stage one\nc8: 1/2\nc8: 2/2\nc8 done\n"
    clear = f"\r{ESC}[2K"
    assert tty.getvalue() == f"stage one\nc8: 1/2{clear}c8: 2/2{clear}c8 done\n"


def test_relay_shows_a_child_process_lines_as_they_are_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(INTERVAL_ENV, "0")
    child = (
        "import time\n"
        "from servegate.core.progress import reporter\n"
        "say = reporter()\n"
        "say.stage('first')\n"
        "time.sleep(1.0)\n"
        "say.stage('second')\n"
    )
    monkeypatch.delenv(MODE_ENV, raising=False)
    monkeypatch.delenv(FILE_ENV, raising=False)
    shown = io.StringIO()
    with relay(shown):
        proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 20
        while "first" not in shown.getvalue() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert shown.getvalue() == "first\n", "the first line arrives before the child is done"
        assert proc.poll() is None
        out, _ = proc.communicate(timeout=30)
    assert shown.getvalue() == "first\nsecond\n"
    assert out.splitlines() == ["first", "second"]  # what a notebook would keep
    assert MODE_ENV not in os.environ and FILE_ENV not in os.environ  # restored
