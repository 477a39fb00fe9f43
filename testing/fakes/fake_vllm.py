#!/usr/bin/env python3
"""A stand-in for `vllm serve`, for the plugin's own tests only (never for acceptance runs).

Takes the flags the launcher adds (--port, --served-model-name, --enforce-eager) and behaves
as FAKE_MODE says:

  serve           answer /health, /v1/models, /v1/completions like a healthy server
  print:<text>    print <text> as a log line, then hang (a fatal line in a live process)
  exit:<text>     print <text>, exit 1
  eager-only      print "RopeOperation setup failed" and exit 1 unless --enforce-eager is given
  slow            print a line every second and never become ready
  dead-engine     /v1/models answers but generation fails with 500 and /health turns 500
  die-after:N     serve N generations (the readiness probe's is the first), then log an NPU
                  out-of-memory error and die by SIGKILL (as the OOM killer does)

FAKE_CHILDREN=N spawns N grandchildren (one in a session of its own) that sleep forever; every
pid (ours and theirs) is appended to FAKE_PIDFILE so tests can check none survives.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def flag(name: str, default: str | None = None) -> str | None:
    argv = sys.argv
    return argv[argv.index(name) + 1] if name in argv else default


def note_pid(pid: int) -> None:
    path = os.environ.get("FAKE_PIDFILE")
    if path:
        with open(path, "a") as f:
            f.write(f"{pid}\n")


def spawn_children(count: int) -> None:
    for i in range(count):
        # a child that itself forks a grandchild, like vLLM's engine core and its workers
        code = ("import subprocess,time,sys;"
                "p=subprocess.Popen([sys.executable,'-c','import time; time.sleep(3600)'],"
                f"start_new_session={i == 0});"
                "print(p.pid, flush=True); time.sleep(3600)")
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        note_pid(child.pid)
        note_pid(int(child.stdout.readline()))


def say(text: str) -> None:
    print(text, flush=True)


def serve(port: int, model: str, mode: str) -> None:
    state = {"healthy": True, "generations": 0}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep the log to what the test prints
            pass

        def _json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/health":
                self._json(200 if state["healthy"] else 500, {})
            elif self.path == "/v1/models":
                self._json(200, {"data": [{"id": model}]})
            elif self.path == "/version":
                self._json(200, {"version": "0.0.0-fake"})
            else:
                self._json(404, {"error": "not found"})

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if mode == "dead-engine":
                state["healthy"] = False
                say("ERROR EngineCore encountered a fatal error")
                self._json(500, {"error": {"message": "EngineDeadError"}})
                return
            self._json(200, {"choices": [{"text": " hi", "token_ids": [1]}],
                             "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                       "total_tokens": 2}})
            state["generations"] += 1
            if mode.startswith("die-after:") and state["generations"] >= int(mode.split(":")[1]):
                say("RuntimeError: NPU out of memory. Tried to allocate 4.00 GiB")
                self.wfile.flush()
                os.kill(os.getpid(), signal.SIGKILL)

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def main() -> None:
    note_pid(os.getpid())
    mode = os.environ.get("FAKE_MODE", "serve")
    spawn_children(int(os.environ.get("FAKE_CHILDREN", "0")))
    say(f"fake vllm starting: mode={mode} argv={sys.argv[1:]}")
    if mode.startswith("print:"):
        say(mode.split(":", 1)[1])
        time.sleep(3600)
    elif mode.startswith("exit:"):
        say(mode.split(":", 1)[1])
        sys.exit(1)
    elif mode == "eager-only" and "--enforce-eager" not in sys.argv:
        say("RuntimeError: RopeOperation setup failed")
        sys.exit(1)
    elif mode == "slow":
        for i in range(3600):
            say(f"loading weights {i}")
            time.sleep(1)
    serve(int(flag("--port")), flag("--served-model-name", "fake"), mode)


if __name__ == "__main__":
    main()
