"""The device plan (server/devices.py): npu-smi read as upstream threads show it, cards lent to
extra servers and never doubled, shortages said as such, the wait for a released card."""

from __future__ import annotations

import pytest

from pytest_ascend_oss.server import devices

# `npu-smi info` of an Atlas 800 A2 in the layout vllm-ascend users paste (issues #1767 for the
# card table, PR #7107's comments for the process table): card 0 holds a server, card 1 is idle.
SMI = """\
+------------------------------------------------------------------------------------------------+
| npu-smi 24.1.0.3                 Version: 24.1.0.3                                             |
+---------------------------+---------------+----------------------------------------------------+
| NPU   Name                | Health        | Power(W)    Temp(C)           Hugepages-Usage(page)|
| Chip                      | Bus-Id        | AICore(%)   Memory-Usage(MB)  HBM-Usage(MB)        |
+===========================+===============+====================================================+
| 0     910B2               | OK            | 96.4        37                0    / 0             |
| 0                         | 0000:C1:00.0  | 0           0    / 0          59891/ 65536         |
+===========================+===============+====================================================+
| 1     910B2               | OK            | 88.7        37                0    / 0             |
| 0                         | 0000:C2:00.0  | 0           0    / 0          3395 / 65536         |
+===========================+===============+====================================================+
+---------------------------+---------------+----------------------------------------------------+
| NPU     Chip              | Process id    | Process name             | Process memory(MB)      |
+===========================+===============+====================================================+
| 0       0                 | 669096        | VLLMWorker_TP            | 55124                   |
| 0       0                 | 669153        | python3                  | 107                     |
+===========================+===============+====================================================+
| No running processes found in NPU 1                                                            |
+===========================+===============+====================================================+
"""
# A newer driver adds a "Process id in container" column (vllm-ascend #12980).
SMI_CONTAINER_COLUMN = """\
| NPU     Chip              | Process id    | Process name       | Process memory(MB)    | Process id in container |
+===========================+===============+======================================================================+
| 7       0                 | 632268        | python3.1          | 197                   | NA                      |
"""


def test_npu_smi_is_read_as_upstream_prints_it():
    cards, holders = devices.read_smi(SMI)
    assert sorted(cards) == [0, 1]
    assert (cards[0].hbm_used_mb, cards[0].hbm_total_mb) == (59891, 65536)
    assert cards[1].hbm_used_mb == 3395
    assert [(h.card, h.pid, h.name, h.memory_mb) for h in holders] == [
        (0, 669096, "VLLMWorker_TP", 55124), (0, 669153, "python3", 107)]
    _, newer = devices.read_smi(SMI_CONTAINER_COLUMN)
    assert [(h.card, h.pid) for h in newer] == [(7, 632268)]


@pytest.mark.parametrize(("text", "cards"), [
    ("0-7", (0, 1, 2, 3, 4, 5, 6, 7)), ("0,2,4", (0, 2, 4)), ("4-5,0", (4, 5, 0)),
    ("1,1,0-1", (1, 0)), (" 3 ", (3,)),
])
def test_card_lists(text, cards):
    assert devices.parse_cards(text) == cards


@pytest.mark.parametrize(("text", "says"), [
    ("a", "'a' is not a card id"), ("3-1", "runs backwards"), ("0,,1", "'' is not"),
])
def test_a_bad_card_list_names_the_source_and_the_form(text, says):
    with pytest.raises(devices.DeviceError) as err:
        devices.parse_cards(text, "ASCEND_RT_VISIBLE_DEVICES")
    assert str(err.value).startswith(f"ASCEND_RT_VISIBLE_DEVICES {text!r}") and says in str(err.value)


def test_no_plan_without_npus():
    assert devices.plan(None, {}, 1, None) is None


def test_the_server_keeps_the_cards_its_environment_names_and_extras_get_others():
    plan = devices.plan("0-7", {devices.VISIBLE: "3"}, 1, None)
    assert plan.server == (3,) and plan.source == "--devices"
    assert plan.lend("pooling-twin", 1) == (0,)
    assert plan.lend("variant-tp", 2) == (1, 2)
    assert plan.lend("variant-tp", 2) == (1, 2)  # asked again: the same loan, not a second
    plan.give_back("variant-tp", {"waited_s": 1.0, "released": True})
    assert plan.lend("variant-ep", 2) == (1, 2)
    history = plan.public()["extra_servers"]
    assert history[1] == {"server": "variant-tp", "needs": 2, "cards": [1, 2],
                          "released": {"waited_s": 1.0, "released": True}}


def test_cards_come_from_npu_smi_and_the_server_takes_the_first_it_needs():
    plan = devices.plan(None, {}, 1, SMI)
    assert (plan.cards, plan.server, plan.source) == ((0, 1), (0,), "npu-smi info")


def test_a_shortage_is_said_never_guessed():
    plan = devices.plan("0", {}, 1, None)
    assert plan.lend("variant-tp", 2) is None
    assert not plan.fits_if_aside(2)  # one card: TP2 never fits
    message = plan.shortage("variant-tp", 2)
    assert message.startswith("needs 2 cards, 1 given: the variant-tp server cannot run")
    assert "even with the server under test (0) stopped" in message
    with pytest.raises(devices.DeviceError, match="needs 2 cards"):
        devices.plan("0", {}, 2, None)


# Our server's process row in SMI (pid 669096 on card 0)
OUR_ROW = ("| 0       0                 | 669096        | VLLMWorker_TP            | 55124 "
           "                  |\n")


def _wait(outputs: list[str], **kwargs) -> dict:
    """wait_released for our pid on card 0, reading ``outputs`` in turn (the last one again
    once they run out), on a fake clock that sleeps instantly."""
    now, reads = [0.0], iter(outputs)
    return devices.wait_released({669096}, (0,), read=lambda: next(reads, outputs[-1]),
                                 clock=lambda: now[0],
                                 sleep=lambda s: now.__setitem__(0, now[0] + s), **kwargs)


def test_the_wait_ends_when_the_stopped_server_is_gone_from_its_cards():
    idle = SMI.replace("59891/", " 3400/").replace(OUR_ROW, "")
    assert _wait([SMI, SMI, idle]) == {"waited_s": 4.0, "released": True}


def test_a_card_that_never_comes_back_is_reported_not_waited_for_forever():
    seen = _wait([SMI], timeout=10, poll=2)
    assert seen["released"] is False and seen["waited_s"] == 10
    assert "pid 669096 VLLMWorker_TP" in seen["why"]


def test_no_npu_smi_no_wait():
    assert devices.wait_released({1}, (0,), read=lambda: None)["released"] is None


def test_a_refusal_names_who_holds_the_card():
    text = devices.holders_text(read=lambda: SMI)
    assert "card 0: pid 669096 VLLMWorker_TP (55124 MB)" in text
    assert "card 0 59891/65536 MB used" in text


def test_an_extra_server_fits_on_the_servers_cards_once_it_steps_aside():
    plan = devices.plan("0,1", {}, 1, None)
    assert plan.lend("pooling-twin", 1) == (1,)  # a card of its own: no stepping aside
    assert plan.lend("variant-eager", 1) is None and plan.fits_if_aside(1)
    assert not plan.fits_if_aside(2)  # card 1 is the twin's: 2 never free at once
    assert "pooling-twin holds 1" in plan.shortage("variant-tp", 2)
    plan.aside = True
    assert plan.free() == [0] and plan.lend("variant-eager", 1) == (0,)
    assert plan.borrowers() == ["variant-eager"] and not plan.fits_if_aside(1)


def test_a_card_full_of_someone_elses_processes_is_not_waited_for():
    """Our server is gone; the card is full because another user's server holds it: waiting
    60 s cannot free it, so the wait ends at once naming the holder."""
    theirs = SMI.replace("| 669096        | VLLMWorker_TP", "| 700001        | VLLMWorker_TP")
    seen = _wait([theirs])
    assert seen["released"] is False and seen["waited_s"] == 0.0
    assert "held by other processes: card 0: pid 700001 VLLMWorker_TP (55124 MB)" in seen["why"]


def test_memory_ours_left_behind_is_waited_for_even_beside_a_small_foreign_process():
    """The driver frees a stopped server's memory a moment after its processes exit: a card
    still full then, with only a small process of someone else's on it, is waited for."""
    lingering = SMI.replace(OUR_ROW, "")
    idle = lingering.replace("59891/", " 3400/")
    assert _wait([lingering, lingering, idle]) == {"waited_s": 4.0, "released": True}
