"""`ascend-oss convert-bf16` on an MXFP4 canary, served: the canary's experts quantized as the
hub's gpt-oss-20b stores them (testing/fakes/mxfp4.py), converted by the command in a process
of its own (its peak memory measured by the kernel), then the converted checkpoint and the
dequantized weights each served by vLLM CPU and asked for greedy ids on the 57 shipped
precision prompts. Prints the figures; exits 1 when any prompt's ids differ.

With ``--layers N``: memory at gpt-oss-20b's sizes instead. N layers of random MXFP4 experts
shaped as the hub's (32 experts, hidden 2880, gate_up 5760 rows: 1.06 GB in BF16, down 0.53
GB), converted in a process of its own; its peak memory against the BF16 output's size.

    python benchmarks/convert_bf16_canary.py             (about 3 minutes on 2 cores)
    python benchmarks/convert_bf16_canary.py --layers 4  (6.4 GB written; about 2 minutes)
"""

from __future__ import annotations

import importlib.util
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pytest_ascend_oss.embedded.model import ensure_model
from pytest_ascend_oss.embedded.serve import SMALL_KV_CACHE_GIB, embedded_command
from pytest_ascend_oss.server import argv as argv_tools
from pytest_ascend_oss.server.launcher import launch
from pytest_ascend_oss.suites.features import parity
from pytest_ascend_oss.suites.precision import prompts as precision_prompts

ROOT = Path(__file__).resolve().parents[1]


def _mxfp4_module():
    spec = importlib.util.spec_from_file_location("mxfp4_canary",
                                                  ROOT / "testing" / "fakes" / "mxfp4.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def served_ids(model: Path, work: Path, prompts) -> tuple[dict, float]:
    argv, env = embedded_command(log=lambda m: None, kv_cache_gib=SMALL_KV_CACHE_GIB)
    argv = argv_tools.with_flags(argv, ["--model", str(model)])
    started = []
    try:
        _, endpoint = launch(argv, work / model.name, 600, env=env, on_start=started.append,
                             progress=lambda m: None, ladder=False)
        began = time.monotonic()
        ids = parity.greedy_ids(endpoint.base_url, endpoint.model, None, prompts, 1)
        return ids, time.monotonic() - began
    finally:
        for server in started:
            server.stop()


def convert(source: Path, destination: Path) -> tuple[str, float, float] | None:
    """`ascend-oss convert-bf16` in a process of its own: (its summary line, seconds, the peak
    RSS of this script's children in MB), or None (its output printed) when it failed."""
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest_ascend_oss.cli", "convert-bf16",
                           str(source), str(destination)], capture_output=True, text=True,
                          check=False)
    took = time.monotonic() - began
    if done.returncode:
        print(done.stdout, done.stderr)
        return None
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return done.stdout.strip().splitlines()[-2], took, peak_mb


def synthetic(layers: int, work: Path) -> int:
    """Peak memory converting ``layers`` layers of 20B-sized random MXFP4 experts."""
    import json

    import torch
    from safetensors.torch import save_file

    source = work / "mxfp4-20b-shaped"
    source.mkdir()
    (source / "config.json").write_text(json.dumps({
        "model_type": "gpt_oss", "quantization_config": {"quant_method": "mxfp4"}}))
    generator = torch.Generator().manual_seed(0)
    for layer in range(layers):
        tensors = {}
        for proj, rows in (("gate_up_proj", 5760), ("down_proj", 2880)):
            key = f"model.layers.{layer}.mlp.experts.{proj}"
            tensors[key + "_blocks"] = torch.randint(0, 256, (32, rows, 90, 16), dtype=torch.uint8,
                                                     generator=generator)
            tensors[key + "_scales"] = torch.randint(120, 130, (32, rows, 90), dtype=torch.uint8,
                                                     generator=generator)
        save_file(tensors, source / f"layer-{layer}.safetensors")
        del tensors
    converted = convert(source, work / "bf16")
    if converted is None:
        return 1
    _, took, peak_mb = converted
    written = sum(p.stat().st_size for p in (work / "bf16").glob("*.safetensors"))
    print(f"convert-bf16, {layers} layers at gpt-oss-20b's expert sizes: {took:.1f} s, "
          f"{written / 2**30:.2f} GiB BF16 written, peak RSS {peak_mb / 1024:.2f} GiB "
          f"(largest tensor 1.06 GB; the whole 20B model is about 39 GiB in BF16)")
    return 0


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="convert-bf16-"))
    if "--layers" in sys.argv:
        try:
            return synthetic(int(sys.argv[sys.argv.index("--layers") + 1]), work)
        finally:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    mxfp4 = _mxfp4_module()
    mxfp4.make(ensure_model(lambda m: None), work / "mxfp4", work / "dequantized")
    converted = convert(work / "mxfp4", work / "converted")
    if converted is None:
        return 1
    summary, took, peak_mb = converted
    packed = sum(p.stat().st_size for p in (work / "mxfp4").glob("*.safetensors"))
    written = sum(p.stat().st_size for p in (work / "converted").glob("*.safetensors"))
    print(f"convert-bf16: {took:.1f} s, peak RSS {peak_mb:.0f} MB (a Python process with "
          f"torch and transformers imported), {packed / 2**20:.1f} MB MXFP4 in -> "
          f"{written / 2**20:.1f} MB BF16 out")
    print(summary)
    data, _ = precision_prompts.load_prompts(None)
    prompts = [(p["id"], precision_prompts.render(p["messages"])) for p in data["prompts"]]
    converted, _ = served_ids(work / "converted", work, prompts)
    reference, _ = served_ids(work / "dequantized", work, prompts)
    result = parity.agreement(reference, converted)
    print(f"served greedy ids, converted vs dequantized weights: {result['identical']}/"
          f"{result['prompts']} prompts identical, errors {result['errors'][:2]}")
    return 0 if result["identical"] == result["prompts"] and not result["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
