"""The NPUs of this host, who holds them, and which server the suite may put on which: the
device plan.

An Atlas 800 A2 has 8 cards of 64 GB; gpt-oss-20b in BF16 fills most of one, and vllm-ascend
refuses to start a server on a card whose free memory is below ``gpu_memory_utilization`` of
its total ("Free memory on device ... on startup is less than desired GPU memory utilization",
vllm_ascend/worker/worker.py:265-278 at v0.18.0rc1; vllm-ascend issues #8621, #7308). So every
server the suite starts beside the server under test (the pooling twin, each features variant)
gets cards of its own, chosen here and handed over in its own environment.

Facts used, from upstream:
- the variable that selects cards is ``ASCEND_RT_VISIBLE_DEVICES`` (vllm_ascend/platform.py:100
  at v0.18.0rc1, the platform's device_control_env_var), a comma-separated list of card ids;
- ``npu-smi info`` prints one table row per card (``| 0     910B2 | OK | ...``, then the chip row
  with ``HBM-Usage(MB)`` as ``used / total``) and a process table (``| 0  0 | 669096 |
  VLLMWorker_TP | 55124 |``, an extra "Process id in container" column on newer drivers, and
  ``No running processes found in NPU 1`` for an idle card), as pasted in vllm-ascend issues
  #1767, #2534, #556, #12980 and in the comments of PR #7107;
- a stopped server's card is not free at once: vllm-ascend's own e2e harness waits up to 50 s
  for the memory to come back before the next engine (``wait_until_npu_memory_free``,
  tests/e2e/conftest.py, PR #7412).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..settings import card_ids
from .environment import npu_smi

VISIBLE = "ASCEND_RT_VISIBLE_DEVICES"
# A card is back when none of the stopped server's processes holds it and at most this share
# of its memory is in use (the 50 % of vllm-ascend's harness, tests/e2e/conftest.py).
RELEASED_USED_SHARE = 0.5
RELEASE_TIMEOUT_S = 60.0
RELEASE_POLL_S = 2.0

_CARD_ROW = re.compile(r"^\|\s*(\d+)\s+\S+\s*\|\s*(OK|Warning|Alarm|Critical|UNKNOWN)\b",
                       re.IGNORECASE)
_HBM = re.compile(r"(\d+)\s*/\s*(\d+)\s*\|\s*$")
_PROCESS_ROW = re.compile(r"^\|\s*(\d+)\s+(\d+)\s*\|\s*(\d+)\s*\|\s*(.*?)\s*\|\s*(\d+)\s*\|")


class DeviceError(ValueError):
    """A card list that cannot be read: the message names it and the expected form."""


class NoCards(RuntimeError):
    """An extra server has no free cards of its own: its criterion is not measured (the
    message says how many it needs, which were given, and what to do)."""


def parse_cards(text: str, source: str = "--devices") -> tuple[int, ...]:
    """"0-7", "0,2,4" or "0-3,6" -> the card ids; DeviceError names ``source`` and the text."""
    try:
        return card_ids(text)
    except ValueError as exc:
        raise DeviceError(f"{source} {text!r}: {exc}") from None


@dataclass(frozen=True)
class Card:
    id: int
    hbm_used_mb: int | None = None
    hbm_total_mb: int | None = None


@dataclass(frozen=True)
class Holder:
    card: int
    pid: int
    name: str
    memory_mb: int

    def __str__(self) -> str:
        return f"card {self.card}: pid {self.pid} {self.name} ({self.memory_mb} MB)"


def read_smi(text: str) -> tuple[dict[int, Card], list[Holder]]:
    """The cards and the processes holding them, from ``npu-smi info``'s output."""
    cards: dict[int, Card] = {}
    holders: list[Holder] = []
    pending: int | None = None  # a card row seen; its chip row (with HBM) follows
    in_processes = False
    for line in text.splitlines():
        if "Process id" in line:
            in_processes = True
            continue
        if in_processes:
            match = _PROCESS_ROW.match(line)
            if match:
                holders.append(Holder(int(match[1]), int(match[3]), match[4],
                                      int(match[5])))
            continue
        match = _CARD_ROW.match(line)
        if match:
            pending = int(match[1])
            cards.setdefault(pending, Card(pending))
            continue
        if pending is not None:
            hbm = _HBM.search(line)
            if hbm and cards[pending].hbm_total_mb is None:
                cards[pending] = Card(pending, int(hbm[1]), int(hbm[2]))
            pending = None
    return cards, holders


@dataclass
class DevicePlan:
    """The cards this run may use, the server under test's, and those lent to extra servers.

    ``lend`` gives an extra server free cards of its own (None when too few are free);
    ``give_back`` returns them when it stops. Every loan is kept for results.json."""

    cards: tuple[int, ...]
    server: tuple[int, ...]
    source: str  # where the run's cards came from (--devices, npu-smi)
    lent: dict[str, tuple[int, ...]] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    # The server under test is stopped so that an extra server can use its cards (step_aside.py)
    aside: bool = False
    asides: list[dict] = field(default_factory=list)  # each time it stepped aside, and the cost

    def free(self) -> list[int]:
        busy = {c for cards in self.lent.values() for c in cards}
        if not self.aside:
            busy |= set(self.server)
        return [c for c in self.cards if c not in busy]

    def fits_if_aside(self, count: int) -> bool:
        """Too few cards free now, enough once the server under test steps aside?"""
        if self.aside:
            return False
        unlent = [c for c in self.cards if not any(c in v for v in self.lent.values())]
        return len(self.free()) < count <= len(unlent)

    def borrowers(self) -> list[str]:
        """The extra servers on the server under test's cards (while it is aside)."""
        return [label for label, cards in self.lent.items() if set(cards) & set(self.server)]

    def lend(self, label: str, count: int) -> tuple[int, ...] | None:
        if label in self.lent:
            return self.lent[label]
        free = self.free()
        if len(free) < count:
            self.history.append({"server": label, "needs": count, "free": free,
                                 "cards": None})
            return None
        self.lent[label] = tuple(free[:count])
        self.history.append({"server": label, "needs": count, "cards": list(self.lent[label])})
        return self.lent[label]

    def give_back(self, label: str, released: dict | None = None) -> None:
        """``label``'s cards are free again; ``released``: what the wait for them saw."""
        if self.lent.pop(label, None) is not None and released is not None:
            for entry in reversed(self.history):
                if entry["server"] == label:
                    entry["released"] = released
                    break

    def shortage(self, label: str, count: int) -> str:
        """Why ``label`` gets no cards even with the server under test stopped: for a "not
        measured" verdict, never a failure."""
        held = "; ".join(f"{other} holds {_cards(cards)}" for other, cards in self.lent.items()
                         if other != label)
        return (f"needs {count} card{'s' if count > 1 else ''}, {len(self.cards)} given: "
                f"the {label} server cannot run on this run's cards {_cards(self.cards)} "
                f"({self.source}) even with the server under test ({_cards(self.server)}) "
                f"stopped{f' ({held})' if held else ''}: give more with --devices, or start it "
                "yourself and attach it by URL")

    def public(self) -> dict:
        return {"cards": list(self.cards), "source": self.source, "server": list(self.server),
                "extra_servers": self.history, "server_stepped_aside": self.asides}

    def describe(self) -> str:
        free = self.free()
        return (f"device plan: cards {_cards(self.cards)} ({self.source}); server under test "
                f"on {_cards(self.server)}; " + (
                    f"{_cards(free)} free for the pooling twin and the features variants, each "
                    "on cards of its own" if free else
                    "no card free beside it: each extra server (pooling twin, features "
                    "variants) runs while the server under test steps aside, which is "
                    "started again after it (each swap costs two launches)"))


def _cards(cards: Iterable[int]) -> str:
    cards = list(cards)
    return ",".join(map(str, cards)) if cards else "none"


def plan(devices: str | None, environ: dict[str, str], server_ranks: int,
         smi: str | None) -> DevicePlan | None:
    """The run's device plan; None on a host without NPUs and no --devices (nothing to plan:
    servers start as they always did). The server under test keeps the cards its environment
    names (``ASCEND_RT_VISIBLE_DEVICES``), else takes the first ``server_ranks``."""
    if devices:
        cards, source = parse_cards(devices), "--devices"
    elif smi:
        cards, source = tuple(sorted(read_smi(smi)[0])), "npu-smi info"
    else:
        return None
    if not cards:
        return None
    given = environ.get(VISIBLE, "").strip()
    if given:
        server = parse_cards(given, VISIBLE)
    else:
        if server_ranks > len(cards):
            raise DeviceError(f"the server under test needs {server_ranks} cards "
                              f"(tensor x pipeline x data parallel), {source} gives "
                              f"{_cards(cards)}")
        server = cards[:server_ranks]
    return DevicePlan(cards, server, source)


def environment_on(cards: tuple[int, ...], environ: dict[str, str]) -> dict[str, str]:
    """``environ`` with the server's cards selected."""
    return {**environ, VISIBLE: ",".join(map(str, cards))}


def holders_text(read: Callable[[], str | None] = npu_smi) -> str:
    """Who holds which card now, one clause each, for a refusal's message."""
    text = read()
    if text is None:
        return "npu-smi is not available to tell who holds the cards"
    cards, holders = read_smi(text)
    used = [f"card {c.id} {c.hbm_used_mb}/{c.hbm_total_mb} MB used" for c in cards.values()
            if c.hbm_total_mb]
    held = [str(h) for h in holders]
    return "npu-smi shows " + ("; ".join(held) if held else "no process on any card") + (
        f" ({', '.join(used)})" if used else "")


def wait_released(pids: set[int], cards: tuple[int, ...] | None,
                  read: Callable[[], str | None] = npu_smi,
                  timeout: float = RELEASE_TIMEOUT_S, poll: float = RELEASE_POLL_S,
                  clock: Callable[[], float] = time.monotonic,
                  sleep: Callable[[float], None] = time.sleep) -> dict:
    """Wait until npu-smi shows none of ``pids`` on any card and ``cards`` at most half used.
    Returns what the wait saw: seconds waited, released or not, who still held what. Output
    that shows no card at all (npu-smi missing or failing) tells nothing: no wait."""
    started = clock()
    while True:
        known, holders = read_smi(read() or "")
        if not known:
            return {"waited_s": 0.0, "released": None, "why": "npu-smi not available"}
        ours = [h for h in holders if h.pid in pids]
        full = [c for c in (cards or ()) if c in known and known[c].hbm_total_mb
                and known[c].hbm_used_mb > RELEASED_USED_SHARE * known[c].hbm_total_mb]
        waited = round(clock() - started, 1)
        if not ours and not full:
            return {"waited_s": waited, "released": True}
        # Ours are gone and every full card is full of processes that are not ours (another
        # user's server, a squatter): waiting cannot free it, so say who holds it now instead
        # of after RELEASE_TIMEOUT_S. Memory ours left behind (the driver frees it a moment
        # after the process exits) is not theirs: a card counts only when their own share
        # is over the line.
        foreign = [h for h in holders if h.card in full and h.pid not in pids]
        theirs = {c: sum(h.memory_mb for h in foreign if h.card == c) for c in full}
        if not ours and full and all(
                theirs[c] > RELEASED_USED_SHARE * known[c].hbm_total_mb for c in full):
            return {"waited_s": waited, "released": False, "held": [str(h) for h in foreign],
                    "why": f"cards {_cards(tuple(full))} are held by other processes: "
                           f"{'; '.join(map(str, foreign))}"}
        if waited >= timeout:
            held = [str(h) for h in holders if h.card in (cards or ()) or h.pid in pids]
            return {"waited_s": waited, "released": False, "held": held,
                    "why": f"after {waited:.0f} s cards {_cards(cards or ())} still show "
                           f"{'; '.join(held) or 'their memory in use'}"}
        sleep(poll)
