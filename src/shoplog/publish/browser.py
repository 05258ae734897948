"""Open the built book's pages in headless Chromium, as a reader would: what the console
said, which requests failed, and how long until every figure was drawn.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``), so
nothing listens on a port and no browser is downloaded: it is Debian's ``chromium``.
Used by the tests (no console errors on any page) and ``bench/pages.py`` (load times).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# ready to use: the page loaded and every figure on the first screen drawn (the others
# are drawn as the reader scrolls near them), every image decoded
READY = """(() => {
  const divs = [...document.querySelectorAll('.plotly-graph-div')];
  const onScreen = divs.filter(d => d.getBoundingClientRect().top < window.innerHeight);
  const drawn = onScreen.every(d => d.querySelector('.main-svg'));
  const images = [...document.images].every(i => i.complete);
  return document.readyState === 'complete' && drawn && images
    ? {ms: performance.now(), figures: divs.length} : null;
})()"""
# draw every figure (as printing does) and say how long that took
DRAW_ALL = """(() => {
  const t0 = performance.now();
  window.dispatchEvent(new Event('beforeprint'));
  const divs = [...document.querySelectorAll('.plotly-graph-div')];
  return {ms: performance.now() - t0,
          drawn: divs.filter(d => d.querySelector('.main-svg')).length};
})()"""


def chromium_path() -> str | None:
    """Debian's Chromium, or None where it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageReport:
    """What one page did in the browser."""

    url: str
    errors: list[str] = field(default_factory=list)  # exceptions and console errors
    failed: list[str] = field(default_factory=list)  # requests that did not load
    ready_ms: float | None = None  # navigation start to ready to use (first screen drawn)
    figures: int = 0
    draw_all_ms: float | None = None  # then drawing every other figure at once
    drawn: int = 0  # figures drawn after that


class Chromium:
    """A headless Chromium driven over a DevTools pipe (one page at a time)."""

    def __init__(self, width: int = 1280, height: int = 900) -> None:
        exe = chromium_path()
        if exe is None:
            raise FileNotFoundError("chromium is not installed (apt-get install chromium)")
        self._profile = tempfile.mkdtemp(prefix="shoplog-chromium-")
        to_chrome, self._write = os.pipe()
        self._read, from_chrome = os.pipe()

        def wire() -> None:  # Chromium reads commands on fd 3 and answers on fd 4
            os.dup2(to_chrome, 3)
            os.dup2(from_chrome, 4)

        self._proc = subprocess.Popen(
            [
                exe,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-pipe",
                f"--user-data-dir={self._profile}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            pass_fds=(3, 4),
            preexec_fn=wire,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome)
        os.close(from_chrome)
        self._buffer = b""
        self._id = 0
        self._events: list[dict[str, Any]] = []
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})
        self._session = attached["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self._call(f"{domain}.enable", session=True)

    def _send(self, method: str, params: dict | None, session: bool) -> int:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        return self._id

    def _messages(self, timeout: float) -> list[dict[str, Any]]:
        ready, _, _ = select.select([self._read], [], [], max(timeout, 0))
        if not ready:
            return []
        chunk = os.read(self._read, 1 << 20)
        if not chunk:
            raise RuntimeError("chromium closed its DevTools pipe")
        self._buffer += chunk
        *complete, self._buffer = self._buffer.split(b"\0")
        return [json.loads(m) for m in complete]

    def _call(self, method: str, params: dict | None = None, session: bool = False) -> Any:
        wanted = self._send(method, params, session)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for message in self._messages(deadline - time.monotonic()):
                if message.get("id") == wanted:
                    if "error" in message:
                        raise RuntimeError(f"{method}: {message['error']}")
                    return message.get("result", {})
                self._events.append(message)
        raise TimeoutError(f"chromium did not answer {method}")

    def open(self, path: Path, timeout: float = 20.0) -> PageReport:
        """Load ``path`` and wait until every figure is drawn (or ``timeout``)."""
        report = PageReport(path.as_uri())
        self._events.clear()
        self._call("Page.navigate", {"url": report.url}, session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self._call(
                "Runtime.evaluate", {"expression": READY, "returnByValue": True}, session=True
            )
            value = state.get("result", {}).get("value")
            if value:
                report.ready_ms, report.figures = float(value["ms"]), int(value["figures"])
                break
            time.sleep(0.05)
        if report.ready_ms is not None:
            done = self._call(
                "Runtime.evaluate", {"expression": DRAW_ALL, "returnByValue": True}, session=True
            )["result"]["value"]
            report.draw_all_ms, report.drawn = float(done["ms"]), int(done["drawn"])
        time.sleep(0.2)  # late console messages
        for message in self._events + self._messages(0.1):
            _record(report, message)
        return report

    def screenshot(
        self, path: Path, out: Path, width: int = 1280, dark: bool = False, draw_all: bool = True
    ) -> Path:
        """A PNG of the whole page at ``width`` CSS pixels, in the reader's dark mode when
        ``dark`` (the theme follows the system's colour scheme), every figure drawn."""
        import base64

        self._call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600},
            session=True,
        )
        scheme = {"name": "prefers-color-scheme", "value": "dark" if dark else "light"}
        self._call("Emulation.setEmulatedMedia", {"features": [scheme]}, session=True)
        self.open(path)
        if draw_all:
            self._call("Runtime.evaluate", {"expression": DRAW_ALL}, session=True)
            time.sleep(0.5)
        # the theme lays out sticky sidebars against the viewport: a capture beyond a short
        # viewport leaves the lower page blank, so the viewport grows to the whole page
        height = 0
        for _ in range(3):  # until the page stops growing (late figures, fonts)
            now = self._call(
                "Runtime.evaluate",
                {"expression": "document.documentElement.scrollHeight", "returnByValue": True},
                session=True,
            )["result"]["value"]
            if now == height:
                break
            height = now
            self._call(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
                session=True,
            )
            time.sleep(0.5)
        shot = self._call("Page.captureScreenshot", {"format": "png"}, session=True)
        out.write_bytes(base64.b64decode(shot["data"]))
        return out

    def close(self) -> None:
        self._proc.kill()
        self._proc.wait()
        os.close(self._write)
        os.close(self._read)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_requests: dict[str, str] = {}


def _record(report: PageReport, message: dict[str, Any]) -> None:
    method, params = message.get("method"), message.get("params", {})
    if method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        text = details.get("exception", {}).get("description") or details.get("text", "")
        report.errors.append(f"exception: {text.splitlines()[0] if text else ''}")
    elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        words = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
        report.errors.append(f"console.error: {words}")
    elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
        entry = params["entry"]
        report.errors.append(f"log: {entry['text']} {entry.get('url', '')}".strip())
    elif method == "Network.requestWillBeSent":
        _requests[params["requestId"]] = params["request"]["url"]
    elif method == "Network.loadingFailed" and not params.get("canceled"):
        url = _requests.get(params["requestId"], "?")
        report.failed.append(f"{url}: {params.get('errorText')}")
