"""A real headless browser (the system's Chromium) opening a local HTML file, for the project's
own tests of report.html: what the page logged to the console, which network requests the page
made (the browser's own background traffic is told apart by its network isolation key: a
file:// page's requests carry "file://"), and the DOM after load."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         # any request the page makes goes to a dead proxy: it fails, and the net log has it
         "--proxy-server=127.0.0.1:9", "--disable-background-networking",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000")


@dataclass
class Page:
    dom: str
    console: list[str]
    requests: list[str]
    screenshot: Path | None


def chromium() -> str | None:
    return next((shutil.which(name) for name in CHROMIUM if shutil.which(name)), None)


def open_page(path: Path, screenshot: Path | None = None, timeout: float = 120,
              env: dict[str, str] | None = None) -> Page:
    """``env``: the browser's environment (e.g. FONTCONFIG_FILE: the fonts it may use)."""
    exe = chromium()
    if exe is None:
        raise RuntimeError("no Chromium on PATH (scripts/browser.sh installs the system's)")
    with tempfile.TemporaryDirectory() as tmp:
        netlog = Path(tmp) / "net.json"
        url = Path(path).resolve().as_uri()
        run = subprocess.run([exe, *FLAGS, f"--user-data-dir={tmp}/profile",
                              f"--log-net-log={netlog}", "--dump-dom", url],
                             capture_output=True, text=True, timeout=timeout, check=False,
                             env=env)
        console = [ln for ln in run.stderr.splitlines() if ":CONSOLE" in ln]
        requests = _page_requests(netlog)
        if screenshot is not None:
            subprocess.run([exe, *FLAGS, f"--user-data-dir={tmp}/profile",
                            f"--screenshot={screenshot}", "--window-size=1280,1000",
                            "--hide-scrollbars", url], capture_output=True, timeout=timeout,
                           check=False, env=env)
    return Page(run.stdout, console, requests, screenshot)


def _page_requests(netlog: Path) -> list[str]:
    try:
        events = json.loads(netlog.read_text()).get("events", [])
    except (OSError, ValueError):
        # Chromium may end the log without its closing brackets when it exits quickly
        text = netlog.read_text().rstrip().rstrip(",")
        events = json.loads(text + "]}").get("events", []) if text else []
    urls = []
    for event in events:
        params = event.get("params") or {}
        if "file://" in str(params.get("network_isolation_key", "")) and "url" in params:
            urls.append(params["url"])
    return sorted(set(urls))
