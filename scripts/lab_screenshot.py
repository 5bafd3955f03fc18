"""Drive JupyterLab as a user would and take a screenshot: open 01_benchmark, change its
parameters, run all cells, capture the page.

What it does, with real parts only: copies the notebooks into a throw-away project (so the run
never enters this checkout's history), starts JupyterLab on it, opens the notebook in headless
Chromium (Debian's package) through the DevTools protocol, sets the parameters cell as a user
would type it, runs every cell with Lab's own "Run All" command, waits until the kernel is idle,
and saves a PNG. The target is a real vLLM server (the embedded CPU default, a short run) or,
with ``--target calibration``, the scripted calibration server (seconds, for trying the script).

    .venv/bin/python scripts/lab_screenshot.py docs/images/lab_01_benchmark.png

JupyterLab is started with ``--LabApp.expose_app_in_browser`` so that ``window.jupyterapp``
exists; that, Lab's command registry and the DevTools protocol are all this needs (no
Playwright: its browsers download from a CDN this machine cannot reach).
"""

from __future__ import annotations

import argparse
import ast
import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from websockets.sync.client import connect

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

# A short run: what a user shortens first when trying a change.
SHORT = {"n_prompts": 24, "baseline_prompts": 8, "concurrency": [1, 8]}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _project(tmp: Path) -> Path:
    """A project root with this checkout's notebooks, prompts, price sheet and model folder."""
    root = tmp / "project"
    (root / "data").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[tool.servegate]\n", encoding="utf-8")
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    for name in ("prompts", "models", "history", "pricing.yaml"):
        (root / "data" / name).symlink_to(REPO / "data" / name)
    return root


@contextlib.contextmanager
def _process(argv: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[None]:
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _wait_for(what: str, check: object, timeout_s: float) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            value = check()  # type: ignore[operator]
            if value:
                return value
        time.sleep(0.5)
    raise SystemExit(f"lab_screenshot: {what} did not happen within {timeout_s:g} s")


class _Page:
    """One Chromium tab over the DevTools protocol: evaluate JavaScript, capture the screen."""

    def __init__(self, ws_url: str) -> None:
        self.ws = connect(ws_url, max_size=64 * 1024 * 1024, open_timeout=30).__enter__()
        self.next_id = 0

    def call(self, method: str, timeout_s: float = 120, **params: object) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.ws.recv(timeout=timeout_s))
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def js(self, expression: str, timeout_s: float = 120) -> object:
        result = self.call(
            "Runtime.evaluate",
            timeout_s=timeout_s,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise ValueError(result["exceptionDetails"].get("text", "script error"))
        return result["result"].get("value")


PANEL = "window.jupyterapp && window.jupyterapp.shell.currentWidget"
READY = f"""(() => {{
  const p = {PANEL};
  const k = p && p.sessionContext && p.sessionContext.session && p.sessionContext.session.kernel;
  return !!(k && k.status === "idle" && p.content.widgets.length > 2);
}})()"""
DONE = f"""(() => {{
  const p = {PANEL};
  const k = p.sessionContext.session.kernel;
  const code = p.content.widgets.filter(c => c.model.type === "code");
  const failed = code.some(c => c.model.outputs.toJSON().some(o => o.output_type === "error"));
  return k.status === "idle" && (failed || code.every(c => c.model.executionCount !== null));
}})()"""
FAILED = f"""(() => {{
  const code = {PANEL}.content.widgets.filter(c => c.model.type === "code");
  const out = code.flatMap(c => c.model.outputs.toJSON()).find(o => o.output_type === "error");
  return out ? out.ename + ": " + out.evalue : "";
}})()"""


def _set_parameters(page: _Page, assignments: dict[str, object]) -> None:
    """Edit the parameters cell as a user would: change the values of some lines."""
    source = page.js(
        f"""(() => {{
  const cell = {PANEL}.content.widgets.find(
    c => (c.model.getMetadata("tags") || []).includes("parameters"));
  return cell.model.sharedModel.getSource();
}})()"""
    )
    assert isinstance(source, str)
    for name, value in assignments.items():
        lines = source.splitlines()
        spans = [
            (node.lineno, node.end_lineno or node.lineno)
            for node in ast.parse(source).body
            if isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
        ]
        if not spans:
            raise SystemExit(f"lab_screenshot: no line assigns {name!r} in the parameters cell")
        first, last = spans[0]  # a value may span lines (the `server` mapping does)
        lines[first - 1 : last] = [f"{name} = {value!r}"]
        source = "\n".join(lines)
    page.js(
        f"""(() => {{
  const cell = {PANEL}.content.widgets.find(
    c => (c.model.getMetadata("tags") || []).includes("parameters"));
  cell.model.sharedModel.setSource({json.dumps(source)});
  return true;
}})()"""
    )


def capture(
    out: Path,
    target: str,
    *,
    changes: list[dict[str, object]],
    width: int,
    height: int,
    timeout_s: float,
) -> None:
    """Run 01_benchmark in JupyterLab against ``target`` and save the page as ``out``; with
    ``changes``, run again after each change of parameters and also capture the comparison
    with the previous run (``<out>_compare.png``)."""
    tmp = Path(tempfile.mkdtemp(prefix="servegate-lab-"))
    root = _project(tmp)
    token, lab_port = secrets.token_hex(16), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SERVEGATE_")}
    # A fresh settings folder that says no to Lab's "get notified about Jupyter news?" toast,
    # which would otherwise cover part of the screenshot.
    settings = tmp / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}), encoding="utf-8"
    )
    env["JUPYTERLAB_SETTINGS_DIR"] = str(tmp / "lab-settings")
    lab = [
        str(VENV_BIN / "jupyter"),
        "lab",
        "--no-browser",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={lab_port}",
        f"--IdentityProvider.token={token}",
        "--LabApp.expose_app_in_browser=True",
        *(["--allow-root"] if os.geteuid() == 0 else []),  # CI containers run as root
    ]
    assignments: dict[str, object] = dict(SHORT)
    with contextlib.ExitStack() as stack:
        if target == "calibration":
            from servegate.calibration.script import CalibrationConfig
            from servegate.calibration.server import CalibrationServer

            config = CalibrationConfig(seed=1, output_tokens_min=8, output_tokens_max=32)
            server = stack.enter_context(CalibrationServer(config))
            assignments |= {"base_url": server.base_url, "model": config.model}
        stack.enter_context(_process(lab, tmp / "lab.log", env))
        base = f"http://127.0.0.1:{lab_port}"
        _wait_for(
            "JupyterLab answering",
            lambda: urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2),
            120,
        )
        debug_port = _free_port()
        url = f"{base}/lab/tree/notebooks/01_benchmark.ipynb?token={token}&reset"
        browser = [
            shutil.which("chromium") or "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            f"--user-data-dir={tmp / 'profile'}",
            f"--remote-debugging-port={debug_port}",
            f"--window-size={width},{height}",
            url,
        ]
        stack.enter_context(_process(browser, tmp / "chromium.log"))
        targets = _wait_for(
            "Chromium's DevTools",
            lambda: json.load(urllib.request.urlopen(f"http://127.0.0.1:{debug_port}/json")),
            60,
        )
        page = _Page(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])
        _wait_for("the notebook open with an idle kernel", lambda: page.js(READY), 180)
        _set_parameters(page, assignments)
        for attempt, change in enumerate([{}, *changes]):
            _set_parameters(page, change)
            started = time.monotonic()
            # Lab's promise resolves when the last cell has run.
            run_all = (
                'window.jupyterapp.commands.execute("notebook:run-all-cells").then(() => true)'
            )
            page.js(run_all, timeout_s=timeout_s)
            _wait_for("every cell run", lambda: page.js(DONE), timeout_s)
            took = time.monotonic() - started
            print(
                f"lab_screenshot: run {attempt + 1} ({change or 'as set'}): "
                f"all cells in {took:.0f} s"
            )
            if failed := page.js(FAILED):
                break
        # The run's progress bars and summary table, then the comparison with the run before.
        shots = [
            ("run_benchmark(", out),
            ("since_previous(", out.with_name(f"{out.stem}_compare.png")),
        ]
        out.parent.mkdir(parents=True, exist_ok=True)
        for needle, path in shots[: 2 if changes else 1]:
            page.js(
                f"""(() => {{
  const nb = {PANEL}.content;
  const i = nb.widgets.findIndex(
    c => c.model.sharedModel.getSource().includes({json.dumps(needle)}));
  nb.activeCellIndex = i;
  nb.widgets[i].node.scrollIntoView({{block: "start"}});
  return true;
}})()"""
            )
            time.sleep(2)  # let the widgets and the table paint after the scroll
            shot = page.call("Page.captureScreenshot", format="png")
            path.write_bytes(base64.b64decode(shot["data"]))
            print(f"lab_screenshot: {path} ({path.stat().st_size // 1024} KiB); run in {root}")
        if failed:
            raise SystemExit(f"lab_screenshot: a cell failed: {failed}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument(
        "--target",
        choices=["vllm", "calibration"],
        default="vllm",
        help="what 01_benchmark measures: the embedded vLLM default, or the calibration server",
    )
    parser.add_argument(
        "--change",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="after the first run, set NAME (a Python literal) and run all again; repeatable",
    )
    parser.add_argument("--width", type=int, default=1400, help="window width, px")
    parser.add_argument("--height", type=int, default=1500, help="window height, px")
    parser.add_argument(
        "--timeout-s", type=float, default=900.0, help="longest wait for the run, s"
    )
    args = parser.parse_args(argv)
    changes = []
    for item in args.change:
        name, _, value = item.partition("=")
        changes.append({name: ast.literal_eval(value)})
    capture(
        args.out,
        args.target,
        changes=changes,
        width=args.width,
        height=args.height,
        timeout_s=args.timeout_s,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
