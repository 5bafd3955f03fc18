"""The exception hierarchy: one base, subclasses named for the condition.

Every message names the bad value, what was expected, and the fix, so a user reading
one line in a terminal or a notebook knows what to do next.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "HistoryError",
    "ImportFileError",
    "LimitsError",
    "ModelArtifactError",
    "NotebookError",
    "PortInUseError",
    "PricingError",
    "PromptFileError",
    "QualityFileError",
    "RenderError",
    "RunFolderError",
    "ServegateError",
    "ServerCrashError",
    "ServerError",
    "ServerHangError",
    "ServerOOMError",
    "ServerStartError",
    "SignalInterrupt",
    "StatsInputError",
]


class ServegateError(Exception):
    """Base of every error servegate raises on purpose."""


class ConfigError(ServegateError, ValueError):
    """A parameter or parameter file is invalid (unknown key, wrong type, bad value)."""


class StatsInputError(ServegateError, ValueError):
    """A sample or argument handed to the statistics is invalid.

    For example a NaN or negative latency, ``q`` or ``confidence`` out of range, or per-request
    arrays of different lengths. A ``ValueError`` too, so generic callers can catch it as one.
    """


class ModelArtifactError(ServegateError):
    """A model folder is missing, incomplete, or differs from its manifest."""


class PromptFileError(ServegateError):
    """A prompt set file is missing, empty, or has a bad line.

    ``path`` names the file; ``problems`` lists each bad line as a ``(line_number, reason)``
    pair, 1-based, and is empty when the file as a whole is the problem (missing, no prompts).
    """

    def __init__(
        self, message: str, *, path: str, problems: tuple[tuple[int, str], ...] = ()
    ) -> None:
        super().__init__(message)
        self.path = path
        self.problems = problems


class QualityFileError(ServegateError):
    """An answer-quality check set is missing, empty, or has a bad line.

    Shaped like :class:`PromptFileError`: ``path`` names the file; ``problems`` lists each bad
    line as a ``(line_number, reason)`` pair, 1-based, and is empty when the file as a whole is
    the problem (missing, no items).
    """

    def __init__(
        self, message: str, *, path: str, problems: tuple[tuple[int, str], ...] = ()
    ) -> None:
        super().__init__(message)
        self.path = path
        self.problems = problems


class RunFolderError(ServegateError):
    """A run folder cannot be read back: run.json or requests.csv is missing, torn or edited.

    ``run_dir`` names the folder, ``file`` the file inside it (``None`` for the folder as a
    whole) and ``line`` the 1-based line of requests.csv at fault, when there is one.
    """

    def __init__(
        self, message: str, *, run_dir: str, file: str | None = None, line: int | None = None
    ) -> None:
        super().__init__(message)
        self.run_dir = run_dir
        self.file = file
        self.line = line


class PricingError(ConfigError):
    """The pricing file (``data/pricing.yaml``) or a price handed to a cost formula is invalid."""


class LimitsError(ConfigError):
    """A hardware or model sheet entry (``data/hardware.yaml``, ``data/limits/``) is invalid, a
    quantization is unknown, or a model does not fit an option's memory at all."""


class ImportFileError(ConfigError):
    """A file to import (``servegate import``: a CSV or a tool's results) is missing or
    unusable, or an import flag is bad.

    ``path`` names the file; ``row`` is the 1-based data row at fault (the header not counted),
    or ``None`` when the file or a flag as a whole is the problem. A ``ConfigError`` too, so
    callers that catch bad input catch this; named apart from the builtin ``ImportError``.
    """

    def __init__(self, message: str, *, path: str, row: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.row = row


class HistoryError(ServegateError):
    """The history CSV is missing, or its header is not the one this version writes."""


class RenderError(ServegateError):
    """The HTML or PDF report could not be produced, or would not display offline.

    ``tool`` names the external program at fault (``"chromium"``, ``"pdftotext"``), or is
    ``None`` when the page itself is the problem; ``stderr_tail`` holds that program's last
    output lines, and ``urls`` any network resources the page would still fetch.
    """

    def __init__(
        self,
        message: str,
        *,
        tool: str | None = None,
        stderr_tail: str = "",
        urls: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.tool = tool
        self.stderr_tail = stderr_tail
        self.urls = urls


class NotebookError(ServegateError):
    """A notebook run by papermill stopped at a cell.

    The message is the cell's own error (a servegate error already names the problem and the
    fix) and where the executed notebook with the whole traceback is kept; ``ename`` and
    ``evalue`` are the kernel's exception name and text.
    """

    def __init__(self, message: str, *, ename: str = "", evalue: str = "") -> None:
        super().__init__(message)
        self.ename = ename
        self.evalue = evalue


class PortInUseError(ServegateError):
    """The port asked for is already taken by another process."""


class ServerError(ServegateError):
    """A vLLM server failed. ``kind`` classifies it; ``log_tail`` holds its last log lines."""

    kind = "error"

    def __init__(self, message: str, *, log_path: str | None = None, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_path = log_path
        self.log_tail = log_tail


class ServerStartError(ServerError):
    """The server exited during start-up for a reason other than memory."""

    kind = "start_failed"


class ServerOOMError(ServerStartError):
    """The server ran out of memory (host RAM, GPU memory, or KV cache too small)."""

    kind = "oom"


class ServerHangError(ServerError):
    """The server did not answer ``/health`` within the time-out."""

    kind = "hang"


class ServerCrashError(ServerError):
    """The server process exited after it had become healthy; ``oom`` when its log says why."""

    kind = "crash"

    def __init__(
        self, message: str, *, log_path: str | None = None, log_tail: str = "", oom: bool = False
    ) -> None:
        super().__init__(message, log_path=log_path, log_tail=log_tail)
        self.oom = oom


class SignalInterrupt(KeyboardInterrupt):
    """SIGTERM or SIGHUP turned into an interrupt, so ``with`` blocks clean up as on Ctrl-C.

    A ``KeyboardInterrupt`` (not an ``Exception``) so that code catching ``Exception`` cannot
    swallow a request to stop; ``signum`` says which signal arrived.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"received signal {signum}")
        self.signum = signum
