"""Launch mode on a simulated Atlas host (testing/fakes/atlas.py: an npu-smi and a vllm
stand-in that claim cards and refuse a busy one with vllm-ascend's own message): every extra
server on cards of its own, or on the server under test's while it steps aside, what never
fits said as "not measured", a busy card diagnosed with who holds it, and a stopped server's
cards waited for."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ATLAS = Path(__file__).resolve().parents[1] / "fakes" / "atlas.py"
EXTRA_SERVERS = """
import importlib.util
import json
import pytest
from pytest_ascend_oss.server.devices import NoCards

@pytest.mark.features
def test_extra_servers(server, twin_server, server_variant):
    seen = {}
    try:
        seen["twin"] = twin_server("pooling-twin", pooling=True).base_url
    except NoCards as exc:
        seen["twin"] = f"no cards: {exc}"
    tp = server_variant("tp", ["--tensor-parallel-size", "2"])
    seen["tp"] = tp.endpoint.base_url if tp.endpoint else (tp.absent or tp.error)
    with open("seen.json", "w") as f:
        json.dump(seen, f)
"""


@pytest.fixture
def atlas(tmp_path, monkeypatch, fake_env):
    """An 8-card host: the stand-ins first on PATH; returns (bin directory, state directory)."""
    bin_dir = Path(subprocess.run([sys.executable, str(ATLAS), "install", str(tmp_path / "atlas"),
                                   "8"], capture_output=True, text=True, check=True).stdout.strip())
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    monkeypatch.delenv("ASCEND_RT_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("FAKE_MODE", "serve")
    return bin_dir, tmp_path / "atlas" / "state"


def _run(pytester, bin_dir, *args):
    pytester.makepyfile(test_extra=EXTRA_SERVERS)
    result = pytester.runpytest_subprocess(
        "--server-cmd", f"{bin_dir}/vllm serve /models/gpt-oss-20b --dtype bfloat16",
        "-p", "no:cacheprovider", "-s", *args, timeout=180)
    results = json.loads((pytester.path / "results" / "results.json").read_text())
    return result, results


def test_eight_cards_every_server_on_cards_of_its_own(pytester, atlas, monkeypatch):
    bin_dir, _ = atlas
    monkeypatch.setenv("FAKE_RELEASE_S", "3")  # a stopped server's card comes back 3 s later
    result, results = _run(pytester, bin_dir, "--devices", "0-7")
    out = result.stdout.str()
    result.assert_outcomes(passed=1)
    assert "device plan: cards 0,1,2,3,4,5,6,7 (--devices); server under test on 0" in out
    seen = json.loads((pytester.path / "seen.json").read_text())
    assert seen["twin"].startswith("http://") and seen["tp"].startswith("http://"), seen
    plan = results["devices"]
    assert plan["server"] == [0]
    loans = {e["server"]: e for e in plan["extra_servers"]}
    assert loans["pooling-twin"]["cards"] == [1]
    assert loans["variant-tp"]["cards"] == [2, 3]  # TP2: two cards, neither the twin's
    assert "Free memory on device" not in out
    # the variant stopped at the session's end; its cards were waited for, not assumed free
    released = loans["variant-tp"]["released"]
    assert released["released"] is True and released["waited_s"] >= 2, released


def test_one_card_the_server_steps_aside_and_what_never_fits_is_not_measured(pytester, atlas):
    bin_dir, _ = atlas
    result, results = _run(pytester, bin_dir, "--devices", "0")
    out = result.stdout.str()
    result.assert_outcomes(passed=1)
    seen = json.loads((pytester.path / "seen.json").read_text())
    # the twin fits on card 0 once the server under test is stopped: it runs there
    assert seen["twin"].startswith("http://"), seen
    assert "no free card for pooling-twin: the server under test steps aside" in out
    # tensor parallel 2 never fits on one card: not measured, with the count
    assert seen["tp"].startswith("needs 2 cards, 1 given"), seen
    plan = results["devices"]
    assert [e["cards"] for e in plan["extra_servers"]] == [[0], None]
    aside = plan["server_stepped_aside"]
    assert [a["for"] for a in aside] == ["pooling-twin"] and aside[0]["cards"] == [0]
    assert aside[0]["servers"] == ["pooling-twin"]
    assert "Free memory on device" not in out


def test_one_card_the_server_comes_back_for_the_next_test(pytester, atlas, monkeypatch):
    """A twin on the server's card serves its test; the next test that needs the server gets
    it back on the same card and port, and the cost is recorded."""
    bin_dir, _ = atlas
    monkeypatch.setenv("FAKE_RELEASE_S", "2")
    pytester.makepyfile(test_back="""
import httpx

def test_a_twin_on_the_servers_card(server, twin_server):
    assert twin_server("pooling-twin", pooling=True).base_url.startswith("http://")

def test_the_server_is_back(server):
    assert httpx.get(server.base_url + "/health").status_code == 200
""")
    result = pytester.runpytest_subprocess(
        "--server-cmd", f"{bin_dir}/vllm serve /models/gpt-oss-20b --dtype bfloat16",
        "-p", "no:cacheprovider", "-s", "--devices", "0", timeout=180)
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    assert "starting the server under test again on card 0" in out
    aside = json.loads((pytester.path / "results" / "results.json").read_text())[
        "devices"]["server_stepped_aside"]
    assert len(aside) == 1 and aside[0]["cost_s"] >= aside[0]["server_back_s"] > 0, aside
    # the twin's card was waited for before the server went back on it
    assert "Free memory on device" not in out


def test_a_card_held_by_someone_else_is_diagnosed_with_its_holder(pytester, atlas):
    bin_dir, state = atlas
    squatter = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (state / "card-0.json").write_text(json.dumps({"pid": squatter.pid}))
        result, results = _run(pytester, bin_dir)  # cards from npu-smi: all 8, server on 0
        out = result.stdout.str()
        assert result.ret == 1
        assert "card held by another process" in out
        assert f"card 0: pid {squatter.pid} VLLMWorker_TP" in out
        assert "ladder tried" not in out  # neither a retry nor eager mode frees a card
        assert results["devices"]["source"] == "npu-smi info"
    finally:
        squatter.kill()
        squatter.wait()


@pytest.mark.parametrize(("vllm_ascend", "build"), [
    ("0.18.0rc1", None),
    # a tagless shallow clone, as vllm-ascend issue #9806 shows it
    ("0.1.dev2922+gbb3f938cb", "built from source at git bb3f938cb"),
])
def test_the_record_of_a_simulated_ascend_host(pytester, atlas, monkeypatch, tmp_path,
                                               vllm_ascend, build):
    """results.json on an Ascend host: CANN from the toolkit's install-info file, torch,
    torch_npu, vllm-ascend (tagged, or a source build said as such), the driver from npu-smi,
    the Ascend variables with secrets hidden; the software check said before launch."""
    bin_dir, _ = atlas
    spec = importlib.util.spec_from_file_location("atlas", ATLAS)
    fake = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fake)
    for name, value in fake.software(tmp_path / "stack", vllm_ascend).items():
        monkeypatch.setenv(name, value)
    result, results = _run(pytester, bin_dir, "--devices", "0-7")
    env = results["environment"]
    assert env["ascend_host"] is True and env["cann"] == "8.5.1"
    assert env["cann_source"].endswith("x86_64-linux/ascend_toolkit_install.info")
    assert env["torch_npu"] == "2.9.0" and env["torch"] and env["vllm_ascend"] == vllm_ascend
    assert env["vllm_ascend_build"] == build and env["driver"] == "24.1.0.3"
    variables = env["variables"]
    assert variables["HCCL_OP_EXPANSION_MODE"] == "AIV"
    assert variables["PYTORCH_NPU_ALLOC_CONF"] == "expandable_segments:True"
    assert variables["ASCEND_FAKE_TOKEN"] != "do-not-record-me"
    assert "do-not-record-me" not in (pytester.path / "results" / "results.json").read_text()
    out = result.stdout.str()
    before_launch = out.split("starting server", 1)[0]
    if build:
        assert (f"software check: vllm_ascend: '{vllm_ascend}', {build}: not comparable "
                "with 0.18.0rc1") in before_launch
    else:
        assert "software check: CANN, torch, torch_npu and vllm-ascend meet the guide's " \
               "minimums" in before_launch
    print(json.dumps({k: env[k] for k in ("cann", "cann_source", "torch", "torch_npu",
                                          "vllm_ascend", "vllm_ascend_build", "driver",
                                          "variables")}, indent=1))
