#!/usr/bin/env python3
"""A simulated Atlas host for the plugin's own tests (never for acceptance runs): an ``npu-smi``
and a ``vllm`` stand-in that share a directory of card claims.

``atlas.py install DIR CARDS``  writes DIR/bin/npu-smi and DIR/bin/vllm (put DIR/bin first on
                                PATH) and DIR/state/cards (the card count).
``npu-smi info``                prints the cards and the processes holding them, in the layout
                                vllm-ascend users paste (see server/devices.py); a claim is
                                shown while its process lives, and FAKE_RELEASE_S seconds after
                                (a card's memory comes back a moment after its process ends).
``vllm ...``                    claims the cards ASCEND_RT_VISIBLE_DEVICES names (card 0 when
                                unset); a card claimed by a live process is refused with
                                vllm-ascend's own message (vllm_ascend/worker/worker.py at
                                v0.18.0rc1) and exit 1; otherwise it becomes the fake vLLM
                                server (fake_vllm.py) under the same pid, which holds the claim;
                                with FAKE_ATLAS_BACKEND=embedded it becomes the real vLLM CPU
                                serving the canary instead (benchmarks/atlas_rehearsal.sh).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HBM_TOTAL_MB = 65536
SERVER_MB = 55124
DRIVER = "24.1.0.3"  # the header npu-smi prints (vllm-ascend issue #1767)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _state() -> Path:
    return Path(os.environ["FAKE_ATLAS_DIR"]) / "state"


def _claims() -> dict[int, dict]:
    """card -> {"pid", "died"} for every claim still shown."""
    linger = float(os.environ.get("FAKE_RELEASE_S", "0"))
    shown = {}
    for path in _state().glob("card-*.json"):
        claim = json.loads(path.read_text())
        if not _alive(claim["pid"]):
            if claim.get("died") is None:
                claim["died"] = time.time()
                path.write_text(json.dumps(claim))
            if time.time() - claim["died"] >= linger:
                path.unlink(missing_ok=True)
                continue
        shown[int(path.stem.split("-")[1])] = claim
    return shown


def npu_smi() -> None:
    if sys.argv[1:2] != ["info"]:
        print(f"npu-smi stand-in: only 'info' is simulated, got {sys.argv[1:]}", file=sys.stderr)
        sys.exit(2)
    cards = int((_state() / "cards").read_text())
    claims = _claims()
    rule = "+" + "-" * 27 + "+" + "-" * 15 + "+" + "-" * 52 + "+"
    print("+" + "-" * 96 + "+")
    print(f"| npu-smi {DRIVER:<24} Version: {DRIVER:<46}|")
    print(rule)
    print("| NPU   Name                | Health        | Power(W)    Temp(C)           "
          "Hugepages-Usage(page)|")
    print("| Chip                      | Bus-Id        | AICore(%)   Memory-Usage(MB)  "
          "HBM-Usage(MB)        |")
    for card in range(cards):
        used = 3400 + (SERVER_MB if card in claims else 0)
        print(f"| {card:<5} 910B2               | OK            | 90.0        37          "
              "      0    / 0             |")
        print(f"| 0                         | 0000:C{card}:00.0  | 0           0    / 0      "
              f"    {used:<5}/ {HBM_TOTAL_MB}         |")
    print(rule)
    print("| NPU     Chip              | Process id    | Process name             | "
          "Process memory(MB)      |")
    for card in range(cards):
        if card in claims:
            print(f"| {card:<7} 0                 | {claims[card]['pid']:<13} | VLLMWorker_TP"
                  f"            | {SERVER_MB:<23} |")
        else:
            print(f"| No running processes found in NPU {card}" + " " * 40 + "|")
    print(rule)


def vllm() -> None:
    visible = os.environ.get("ASCEND_RT_VISIBLE_DEVICES", "0")
    cards = [int(c) for c in visible.split(",") if c.strip()]
    held = _claims()
    for card in cards:
        if card in held:  # alive, or its memory not yet back
            free_gib = (HBM_TOTAL_MB - 3400 - SERVER_MB) / 1024
            print(f"(EngineCore pid={os.getpid()}) ValueError: Free memory on device "
                  f"({free_gib:.2f}/60.96 GiB) on startup is less than desired GPU memory "
                  "utilization (0.9, 54.86 GiB). Decrease GPU memory utilization or reduce GPU "
                  "memory used by other processes.", flush=True)
            sys.exit(1)
    for card in cards:
        (_state() / f"card-{card}.json").write_text(json.dumps({"pid": os.getpid()}))
    if os.environ.get("FAKE_ATLAS_BACKEND") == "embedded":
        real_vllm()
    os.execv(sys.executable, [sys.executable, str(HERE / "fake_vllm.py"), *sys.argv[1:]])


def real_vllm() -> None:
    """Become the real vLLM CPU serving the canary with the user's flags (the model path and
    dtype aside), under the same pid, so the claim holds: the rehearsal of a whole suite."""
    from pytest_ascend_oss.embedded.serve import (
        SMALL_KV_CACHE_GIB,
        embedded_command,
        engine_environment,
    )
    from pytest_ascend_oss.server import argv as argv_tools

    given = sys.argv[1:]
    if given[:1] == ["serve"]:
        given = given[2:]  # `serve MODEL`
    given = argv_tools.without_flags(given, {"--dtype": 1})
    argv, env = embedded_command(log=lambda m: None, kv_cache_gib=SMALL_KV_CACHE_GIB)
    # the user's flags win over the embedded ones (served name, port, parsers, variants)
    argv = argv_tools.with_flags(argv, given)
    env.update(engine_environment(os.environ, sorted(os.sched_getaffinity(0)),
                                  SMALL_KV_CACHE_GIB, argv_tools.ranks(argv)))  # TP / PP ranks
    os.execve(argv[0], argv, env)


def software(directory: Path, vllm_ascend: str) -> dict[str, str]:
    """The guide's software stack as the host record sees it, without the software: CANN's
    install-info file under a toolkit root, and torch_npu / vllm-ascend distributions
    (metadata only; nothing to import). Returns the environment that shows them."""
    toolkit = directory / "ascend-toolkit" / "latest"
    (toolkit / "x86_64-linux").mkdir(parents=True, exist_ok=True)
    (toolkit / "x86_64-linux" / "ascend_toolkit_install.info").write_text(
        "package_name=Ascend-cann-toolkit\nversion=8.5.1\ninnerversion=V100R001C25\n"
        "arch=x86_64\nos=linux\npath=/usr/local/Ascend/ascend-toolkit/8.5.1/x86_64-linux\n")
    site = directory / "site"
    for name, version in (("torch_npu", "2.9.0"), ("vllm_ascend", vllm_ascend)):
        info = site / f"{name}-{version}.dist-info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}"
                                       f"\nVersion: {version}\n")
    return {"ASCEND_TOOLKIT_HOME": str(toolkit), "PYTHONPATH": str(site),
            "HCCL_OP_EXPANSION_MODE": "AIV", "PYTORCH_NPU_ALLOC_CONF": "expandable_segments:True",
            "ASCEND_FAKE_TOKEN": "do-not-record-me"}


def install(directory: Path, cards: int) -> Path:
    """The stand-ins in ``directory``/bin; returns that bin directory."""
    bin_dir, state = directory / "bin", directory / "state"
    bin_dir.mkdir(parents=True, exist_ok=True)
    state.mkdir(exist_ok=True)
    (state / "cards").write_text(str(cards))
    for name, role in (("npu-smi", "npu-smi"), ("vllm", "vllm")):
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\nFAKE_ATLAS_DIR={directory} exec {sys.executable} "
                          f"{Path(__file__).resolve()} {role} \"$@\"\n")
        script.chmod(0o755)
    return bin_dir


if __name__ == "__main__":
    role = sys.argv.pop(1)
    if role == "install":
        print(install(Path(sys.argv[1]), int(sys.argv[2])))
    elif role == "npu-smi":
        npu_smi()
    else:
        vllm()
