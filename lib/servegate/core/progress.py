"""Progress a person can read: widget bars in JupyterLab, one plain line per event elsewhere.

Three modes, picked by ``$SERVEGATE_PROGRESS`` or, when unset, by where the code runs:

``bars``
    tqdm.auto: ipywidgets bars in a Jupyter kernel, text bars in a terminal.
``lines``
    One line per stage and, every ``$SERVEGATE_PROGRESS_INTERVAL`` seconds (10 by default),
    one line per running task with done/total, ok/failed, elapsed and ETA; no escape codes,
    so cron mail and CI logs stay readable. Used when stderr is not a terminal.
``off``
    Nothing.

The ``servegate`` command runs notebooks in a kernel with ``lines`` and
``$SERVEGATE_PROGRESS_FILE`` set: the live lines go to that file, which the command tails to
the terminal, and the executed notebook keeps only the stage and summary lines, never the
frames in between.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import IO, Literal, Protocol

__all__ = [
    "FILE_ENV",
    "INTERVAL_ENV",
    "MODE_ENV",
    "Counter",
    "ProgressMode",
    "Reporter",
    "Waiter",
    "echo_line",
    "format_duration",
    "log_message",
    "plural",
    "progress_mode",
    "relay",
    "reporter",
    "strip_ansi",
]

MODE_ENV = "SERVEGATE_PROGRESS"
FILE_ENV = "SERVEGATE_PROGRESS_FILE"
INTERVAL_ENV = "SERVEGATE_PROGRESS_INTERVAL"

ProgressMode = Literal["bars", "lines", "off"]
_MODES: tuple[ProgressMode, ...] = ("bars", "lines", "off")

# ESC [ ... final byte: colours and cursor moves in vLLM's log lines.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")

#: Prefixes in the progress file: a permanent line, or a transient update a terminal overwrites.
PERMANENT, TRANSIENT = "P ", "T "


def strip_ansi(text: str) -> str:
    """``text`` without ANSI escape sequences (colours, cursor moves)."""
    return _ANSI.sub("", text)


# vLLM's log prefix: "(EngineCore pid=812) INFO 11-30 15:53:31 [file.py:87] ".
_LOG_PREFIX = re.compile(
    r"^(\(\w+ pid=\d+\)\s*)?([A-Z]+\s+)?(\d\d-\d\d [\d:.]+\s+)?(\[[^\]]*\]\s*)?"
)


def log_message(line: str, width: int = 80) -> str:
    """A server log line as a progress note: no colours, no process/level/time/file prefix,
    cut to ``width`` characters at the end (where a cut loses least)."""
    text = _LOG_PREFIX.sub("", strip_ansi(line).strip(), count=1).strip()
    return text if len(text) <= width else text[: width - 1] + "…"


def plural(count: int, noun: str) -> str:
    """``1 request``, ``2 requests``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def format_duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``: short and unambiguous in a log line."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def _in_jupyter_kernel() -> bool:
    shell = sys.modules.get("IPython")
    get = getattr(shell, "get_ipython", None)
    ip = get() if callable(get) else None
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


def progress_mode() -> ProgressMode:
    """The mode for this process: ``$SERVEGATE_PROGRESS``, else bars in Jupyter or a terminal,
    else lines."""
    chosen = os.environ.get(MODE_ENV, "").strip().lower()
    for mode in _MODES:
        if chosen == mode:
            return mode
    if _in_jupyter_kernel() or sys.stderr.isatty():
        return "bars"
    return "lines"


def _interval() -> float:
    try:
        return max(0.0, float(os.environ.get(INTERVAL_ENV, "10")))
    except ValueError:
        return 10.0


class Counter(Protocol):
    """A task of ``total`` steps, each ok or failed."""

    def advance(self, ok: bool = True) -> None: ...

    def close(self) -> None: ...


class Waiter(Protocol):
    """A wait with no step count (a server starting), measured against the usual duration."""

    def tick(self, note: str = "") -> None: ...

    def close(self, text: str) -> None: ...


class Reporter(Protocol):
    """Where a job says what it is doing."""

    def stage(self, text: str) -> None: ...

    def counter(self, label: str, total: int, unit: str = "requests") -> Counter: ...

    def waiter(self, label: str, usual_s: float | None = None, usual_note: str = "") -> Waiter: ...


class _Quiet:
    """Says nothing (mode ``off``)."""

    def stage(self, text: str) -> None:
        pass

    def counter(self, label: str, total: int, unit: str = "requests") -> Counter:
        return _QuietTask()

    def waiter(self, label: str, usual_s: float | None = None, usual_note: str = "") -> Waiter:
        return _QuietTask()


class _QuietTask:
    def advance(self, ok: bool = True) -> None:
        pass

    def tick(self, note: str = "") -> None:
        pass

    def close(self, text: str = "") -> None:
        pass


class _Lines:
    """Mode ``lines``: ``live`` gets every line, ``keep`` (the notebook) only the lasting ones."""

    def __init__(self, live: IO[str], keep: IO[str] | None, interval: float, marked: bool):
        self.live, self.keep, self.interval, self.marked = live, keep, interval, marked

    def emit(self, text: str, *, lasting: bool) -> None:
        prefix = (PERMANENT if lasting else TRANSIENT) if self.marked else ""
        self.live.write(f"{prefix}{text}\n")
        self.live.flush()
        if lasting and self.keep is not None:
            self.keep.write(text + "\n")
            self.keep.flush()

    def stage(self, text: str) -> None:
        self.emit(text, lasting=True)

    def counter(self, label: str, total: int, unit: str = "requests") -> Counter:
        return _LineCounter(self, label, total, unit)

    def waiter(self, label: str, usual_s: float | None = None, usual_note: str = "") -> Waiter:
        return _LineWaiter(self, label, usual_s, usual_note)


class _LineCounter:
    def __init__(self, out: _Lines, label: str, total: int, unit: str) -> None:
        self.out, self.label, self.total, self.unit = out, label, total, unit
        self.ok = self.failed = 0
        self.started = self.last = time.monotonic()

    def _text(self) -> str:
        done = self.ok + self.failed
        elapsed = time.monotonic() - self.started
        text = f"{self.label}: {done}/{self.total} {self.unit} ({self.ok} ok, {self.failed} failed)"
        if done >= self.total:
            return f"{text} in {format_duration(elapsed)}"
        eta = elapsed / done * (self.total - done) if done else math.nan
        eta_text = format_duration(eta) if done else "unknown"
        return f"{text}, {format_duration(elapsed)} elapsed, ETA {eta_text}"

    def advance(self, ok: bool = True) -> None:
        if ok:
            self.ok += 1
        else:
            self.failed += 1
        now = time.monotonic()
        if now - self.last >= self.out.interval and self.ok + self.failed < self.total:
            self.last = now
            self.out.emit(self._text(), lasting=False)

    def close(self) -> None:
        self.out.emit(self._text(), lasting=True)


class _LineWaiter:
    def __init__(self, out: _Lines, label: str, usual_s: float | None, usual_note: str) -> None:
        self.out, self.label = out, label
        self.usual = f" of usually ~{format_duration(usual_s)}" if usual_s else ""
        self.started = self.last = time.monotonic()
        suffix = f" ({usual_note})" if usual_note else ""
        out.emit(f"{label}{suffix}", lasting=True)

    def tick(self, note: str = "") -> None:
        now = time.monotonic()
        if now - self.last >= self.out.interval:
            self.last = now
            detail = log_message(note)
            elapsed = format_duration(now - self.started)
            line = f"{self.label}: {elapsed}{self.usual}" + (f"; {detail}" if detail else "")
            self.out.emit(line, lasting=False)

    def close(self, text: str) -> None:
        self.out.emit(text, lasting=True)


class _Bars:
    """Mode ``bars``: tqdm.auto (ipywidgets in Jupyter); stage lines printed between bars."""

    def stage(self, text: str) -> None:
        from tqdm.auto import tqdm

        tqdm.write(text, file=sys.stdout)

    def counter(self, label: str, total: int, unit: str = "requests") -> Counter:
        return _BarCounter(label, total, unit)

    def waiter(self, label: str, usual_s: float | None = None, usual_note: str = "") -> Waiter:
        return _BarWaiter(label, usual_s, usual_note)


class _BarCounter:
    def __init__(self, label: str, total: int, unit: str) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc=label, unit=unit[:3], mininterval=0.5, leave=True)
        self.ok = self.failed = 0

    def advance(self, ok: bool = True) -> None:
        if ok:
            self.ok += 1
        else:
            self.failed += 1
        self.bar.set_postfix_str(f"{self.ok} ok, {self.failed} failed", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


class _BarWaiter:
    """A bar that fills towards the usual duration (not the time-out: it would read as a
    countdown of 10 minutes for a start that usually takes 2); elapsed time beside it."""

    def __init__(self, label: str, usual_s: float | None, usual_note: str) -> None:
        from tqdm.auto import tqdm

        desc = f"{label} ({usual_note})" if usual_note else label
        total = round(usual_s) if usual_s else None
        self.bar = tqdm(
            total=total,
            desc=desc,
            unit="s",
            leave=False,
            mininterval=0.5,
            bar_format="{desc}: {elapsed} {bar} {postfix}"
            if total
            else "{desc}: {elapsed} {postfix}",
        )
        self.started = time.monotonic()

    def tick(self, note: str = "") -> None:
        elapsed = round(time.monotonic() - self.started)
        if self.bar.total:
            elapsed = min(elapsed, int(self.bar.total))
        if note:
            self.bar.set_postfix_str(log_message(note, 60), refresh=False)
        if elapsed > self.bar.n:
            self.bar.update(elapsed - self.bar.n)

    def close(self, text: str) -> None:
        self.bar.close()
        _Bars().stage(text)


def reporter(mode: ProgressMode | None = None) -> Reporter:
    """The reporter for ``mode`` (default: ``progress_mode()``).

    In ``lines`` mode with ``$SERVEGATE_PROGRESS_FILE`` set, live lines are appended to that
    file (each marked permanent or transient for the terminal that tails it) and only lasting
    lines reach stdout, where a notebook keeps them.
    """
    mode = mode or progress_mode()
    if mode == "off":
        return _Quiet()
    if mode == "bars":
        return _Bars()
    path = os.environ.get(FILE_ENV)
    if path:
        # Line-buffered append: the tailing command sees each line as it is written.
        live = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 -- lives with the reporter
        return _Lines(live, sys.stdout, _interval(), marked=True)
    return _Lines(sys.stderr, None, _interval(), marked=False)


def echo_line(line: str, stream: IO[str], *, pending: list[bool]) -> None:
    """Show one line of a progress file on ``stream``: on a terminal a transient line is
    overwritten by the next one; elsewhere every line is printed as it is (no escape codes)."""
    marked = line[:2] in (PERMANENT, TRANSIENT)
    text = line[2:] if marked else line
    transient = marked and line.startswith(TRANSIENT)
    if stream.isatty():
        clear = "\r\x1b[2K" if pending[0] else ""
        stream.write(f"{clear}{text}" if transient else f"{clear}{text}\n")
        pending[0] = transient
    else:
        stream.write(text + "\n")
    stream.flush()


def _tail(path: str, stream: IO[str], stop: threading.Event) -> None:
    pending = [False]
    buffer = ""
    with open(path, encoding="utf-8") as fh:
        while True:
            chunk = fh.read()
            if chunk:
                *lines, buffer = (buffer + chunk).split("\n")
                for line in lines:
                    echo_line(line, stream, pending=pending)
                continue
            if stop.is_set():  # set after the writer exited: the read above drained the file
                break
            stop.wait(0.2)
    if pending[0]:
        stream.write("\n")
        stream.flush()


@contextlib.contextmanager
def relay(stream: IO[str] | None) -> Iterator[None]:
    """While open, a child process started here (papermill's kernel) reports in ``lines`` mode
    into a fresh file whose lines appear on ``stream`` as they are written; with ``stream``
    None they are not shown (``-q``). The environment is restored on exit."""
    saved = {name: os.environ.get(name) for name in (MODE_ENV, FILE_ENV)}
    fd, path = tempfile.mkstemp(prefix="servegate-progress-", suffix=".log")
    os.close(fd)
    os.environ[MODE_ENV] = "lines"
    os.environ[FILE_ENV] = path
    stop = threading.Event()
    thread = None
    if stream is not None:
        thread = threading.Thread(target=_tail, args=(path, stream, stop), daemon=True)
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if thread is not None:
            thread.join(timeout=5)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        with contextlib.suppress(OSError):
            os.unlink(path)
