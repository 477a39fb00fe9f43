"""The server under test steps aside for an extra server that has no cards of its own.

On a host with too few free cards (one card: the pooling twin, the eager and the
chunked-prefill variants each need one), the extra server runs on the server under test's
cards while the server under test is stopped; the server under test is started again, with the
command that came up, before the next test that needs it. What can never fit (tensor parallel
2 on one card) is not measured, never failed (``DevicePlan.shortage``).

Each step costs two launches on a real host (the extra server's and the server under test's
again, graph capture included), so the plan keeps the extra server for as long as its users
run: ``keep_for`` names the fixture (``eager``, ``pooling_twin``) or the test that uses it; the
plugin brings the server under test back before the first test that needs the server and is
not such a user. The criteria that compare an extra server with the server under test take
the server under test's answers before it steps aside (tests/test_features.py,
tests/test_precision.py). The time each step cost is recorded in the device plan
(``server_stepped_aside``), printed and shown in the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from .devices import DevicePlan


class StepAside:
    """``stop_server()`` stops the server under test and waits for its cards (returns what the
    wait saw); ``start_server()`` starts it again on them (raises StartupError when it does
    not come back)."""

    def __init__(self, plan: DevicePlan, stop_server: Callable[[], dict | None],
                 start_server: Callable[[], None], say: Callable[[str], None],
                 clock: Callable[[], float] = time.monotonic):
        self.plan = plan
        self._stop_server, self._start_server = stop_server, start_server
        self._say, self._clock = say, clock
        self.keep_for: str | None = None
        self._stops: dict[str, Callable[[], None]] = {}

    @property
    def aside(self) -> bool:
        return self.plan.aside

    def step_aside(self, label: str) -> None:
        """Stop the server under test so that ``label`` can run on its cards."""
        started = self._clock()
        released = self._stop_server()
        self.plan.aside = True
        entry = {"for": label, "cards": list(self.plan.server),
                 "server_stopped_s": round(self._clock() - started, 1)}
        if released is not None:
            entry["cards_released"] = released
        self.plan.asides.append(entry)
        self._say(f"device plan: no free card for {label}: the server under test steps aside "
                  f"from {_cards(self.plan.server)} (stopped in {entry['server_stopped_s']} s) "
                  "and is started again after it")

    def borrowed(self, label: str, stop: Callable[[], None], keep_for: str) -> None:
        """``label`` runs on the server under test's cards for the users named ``keep_for``;
        ``stop`` stops it and gives its cards back."""
        self._stops[label] = stop
        self.keep_for = keep_for
        self.plan.asides[-1].setdefault("servers", []).append(label)

    def keeps(self, fixturenames: Iterable[str], nodeid: str) -> bool:
        """Does this test use the extra server now on the server under test's cards?"""
        return self.keep_for is not None and (
            self.keep_for == nodeid or self.keep_for in set(fixturenames))

    def come_back(self) -> None:
        """Stop the extra servers on the server under test's cards, start it again there."""
        if not self.plan.aside:
            return
        entry = self.plan.asides[-1]
        started = self._clock()
        for label in self.plan.borrowers():
            stop = self._stops.pop(label, None)
            if stop is not None:
                stop()
        self.plan.aside, self.keep_for = False, None
        self._say(f"device plan: starting the server under test again on "
                  f"{_cards(self.plan.server)}")
        try:
            self._start_server()
        finally:
            entry["server_back_s"] = round(self._clock() - started, 1)
            entry["cost_s"] = round(entry["server_stopped_s"] + entry["server_back_s"], 1)
        self._say(f"device plan: the server under test is back after "
                  f"{entry['server_back_s']} s; stepping aside for {entry['for']} cost "
                  f"{entry['cost_s']} s of launches")


def _cards(cards: Iterable[int]) -> str:
    return "card " + ",".join(map(str, cards))
