"""From the hub's gpt-oss checkpoint (MXFP4 experts) to one vllm-ascend can serve (BF16).

vllm-ascend cannot load MXFP4 (vLLM 0.18.0 raises "mxfp4 quantization is currently not
supported in npu.", vllm/platforms/interface.py; vllm-ascend's CI serves a BF16 conversion,
unsloth/gpt-oss-20b-BF16: server/preflight.py). openai/gpt-oss-20b stores each layer's experts
as ``mlp.experts.{gate_up,down}_proj_blocks`` (uint8, two FP4 values per byte, 32 values per
block) and ``..._scales`` (uint8, one power-of-two exponent per block, offset 127), the names
vLLM maps to its fused-MoE weights (vllm/model_executor/models/gpt_oss.py, ``_blocks`` ->
``w13_weight``), with ``quantization_config.quant_method = "mxfp4"`` in config.json; every other
tensor is BF16 already. A BF16 checkpoint holds ``mlp.experts.gate_up_proj`` as [experts,
hidden, 2 x intermediate] and ``down_proj`` as [experts, intermediate, hidden], the layout
transformers' GptOss model and vLLM's unquantized loader read.

The unpacking is transformers' own (``transformers.integrations.mxfp4.convert_moe_packed_tensors``,
the function its ``dequantize=True`` loading uses): same lookup table, same exponent, same
transposed layout. What no library does is the streaming: transformers dequantizes by loading
the whole model (40+ GB in BF16 for the 20B model). Here one tensor is read, unpacked in row
chunks and written at a time, into shards of at most ``SHARD_BYTES`` (safetensors writes a file
from a dict in memory), so the peak is about one shard plus two copies of the largest tensor
(the unpacked one and its transposition), not the model.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SHARD_BYTES = 1 << 30
# Rows of 16 packed bytes unpacked at once: bounds the int32 index temporaries to ~4 MB
# (transformers' default row chunk covers the whole tensor, about 4x its packed size).
ROWS_PER_CHUNK = 1 << 16
BLOCKS, SCALES = "_blocks", "_scales"
INDEX = "model.safetensors.index.json"
BYTES = {"BF16": 2, "F16": 2, "F32": 4, "U8": 1, "I8": 1, "I32": 4, "I64": 8, "F64": 8,
         "BOOL": 1}


class ConvertError(ValueError):
    """A source that cannot be converted: the message names the file and what is wrong."""


@dataclass
class Planned:
    """One tensor of the output: where it comes from and its shape."""

    name: str
    source: str  # the source key (the ``_blocks`` key for an unpacked tensor)
    file: Path
    shape: list[int]
    dtype: str
    scales: tuple[str, Path] | None = None  # (key, file) of an MXFP4 tensor's exponents

    @property
    def nbytes(self) -> int:
        count = 1
        for dim in self.shape:
            count *= dim
        return count * BYTES.get(self.dtype, 2)


@dataclass
class Converted:
    output: Path
    tensors: int
    unpacked: int
    bytes_written: int
    seconds: float
    peak_rss_mb: float

    def summary(self) -> str:
        return (f"wrote {self.output}: {self.tensors} tensors ({self.unpacked} MXFP4 expert "
                f"tensors unpacked to BF16), {self.bytes_written / 2**30:.2f} GiB in "
                f"{self.seconds:.1f} s; peak memory {self.peak_rss_mb:.0f} MB")


def is_mxfp4(config: dict) -> bool:
    quant = config.get("quantization_config") or {}
    return "mxfp4" in str(quant.get("quant_method", "")).lower()


def _tensor_files(src: Path) -> dict[str, Path]:
    """Every tensor's file: from the shard index when there is one, else from the files."""
    from safetensors import safe_open

    index = src / INDEX
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (ValueError, KeyError) as exc:
            raise ConvertError(f"{index}: not a safetensors index ({exc})") from None
        return {key: src / name for key, name in weight_map.items()}
    files = sorted(src.glob("*.safetensors"))
    if not files:
        raise ConvertError(f"{src}: no *.safetensors file and no {INDEX}")
    found = {}
    for path in files:
        with safe_open(path, "pt") as f:
            found.update({key: path for key in f.keys()})  # noqa: SIM118 - a safe_open handle, not a dict
    return found


def plan(src: Path) -> tuple[dict, list[Planned]]:
    """(the source's config.json, the output's tensors in order); ConvertError when the source
    is not an MXFP4 gpt-oss checkpoint or a packed tensor lacks its exponents."""
    from safetensors import safe_open

    config_path = src / "config.json"
    if not config_path.is_file():
        raise ConvertError(f"{src}: no config.json (a checkpoint directory is expected)")
    try:
        config = json.loads(config_path.read_text())
    except ValueError as exc:
        raise ConvertError(f"{config_path}: not valid JSON ({exc})") from None
    if not is_mxfp4(config):
        quant = (config.get("quantization_config") or {}).get("quant_method")
        raise ConvertError(f"{config_path}: quantization_config.quant_method is {quant!r}, not "
                           "'mxfp4': nothing to convert (a BF16 checkpoint is served as is)")
    files = _tensor_files(src)
    planned: list[Planned] = []
    handles: dict[Path, object] = {}
    try:
        for key, path in files.items():
            if key.endswith(SCALES) and key[: -len(SCALES)] + BLOCKS in files:
                continue  # consumed with its blocks
            if path not in handles:
                if not path.is_file():
                    raise ConvertError(f"{src / INDEX}: {key} is in {path.name}, which is missing")
                handles[path] = safe_open(path, "pt").__enter__()
            part = handles[path].get_slice(key)
            shape, dtype = list(part.get_shape()), part.get_dtype()
            if key.endswith(BLOCKS):
                base = key[: -len(BLOCKS)]
                scales = files.get(base + SCALES)
                if scales is None:
                    raise ConvertError(f"{path}: {key} has no {base + SCALES}: not MXFP4 as "
                                       "gpt-oss stores it")
                if len(shape) != 4 or dtype != "U8":
                    raise ConvertError(f"{path}: {key} is {dtype} {shape}, expected uint8 "
                                       "[experts, rows, blocks, 16]")
                experts, rows, blocks, packed = shape
                planned.append(Planned(base, key, path, [experts, blocks * packed * 2, rows],
                                       "BF16", (base + SCALES, scales)))
            else:
                planned.append(Planned(key, key, path, shape, dtype))
    finally:
        for handle in handles.values():
            handle.__exit__(None, None, None)
    if not any(p.scales for p in planned):
        raise ConvertError(f"{config_path} declares MXFP4 but no tensor ends in {BLOCKS}")
    return config, planned


def _shards(planned: list[Planned], limit: int) -> list[list[Planned]]:
    shards: list[list[Planned]] = [[]]
    size = 0
    for p in planned:
        if shards[-1] and size + p.nbytes > limit:
            shards.append([])
            size = 0
        shards[-1].append(p)
        size += p.nbytes
    return shards


def _unpack(p: Planned):
    """The BF16 tensor of one MXFP4 pair, by transformers' own unpacking."""
    import torch
    from safetensors import safe_open
    from transformers.integrations.mxfp4 import convert_moe_packed_tensors

    with safe_open(p.file, "pt") as f:
        blocks = f.get_tensor(p.source)
    with safe_open(p.scales[1], "pt") as f:
        scales = f.get_tensor(p.scales[0])
    return convert_moe_packed_tensors(blocks, scales, dtype=torch.bfloat16,
                                      rows_per_chunk=ROWS_PER_CHUNK)


def _copied(p: Planned):
    from safetensors import safe_open

    with safe_open(p.file, "pt") as f:
        return f.get_tensor(p.source)


def bf16_config(config: dict) -> dict:
    """config.json for the output: no quantization_config, BF16 weights."""
    out = {k: v for k, v in config.items() if k != "quantization_config"}
    out["dtype" if "dtype" in config else "torch_dtype"] = "bfloat16"
    return out


def convert(src: Path, dst: Path, progress: Callable[[str], None] = print,
            shard_bytes: int = SHARD_BYTES) -> Converted:
    """Write the BF16 checkpoint of ``src`` to ``dst`` (which must not exist). Written into a
    directory beside ``dst`` and renamed at the end: an interrupted conversion leaves no
    half checkpoint that a server would load."""
    from safetensors.torch import save_file

    src, dst = Path(src), Path(dst)
    if dst.exists():
        raise ConvertError(f"{dst} exists: give a new directory (nothing is overwritten)")
    if not src.is_dir():
        raise ConvertError(f"{src}: not a directory")
    started = time.monotonic()
    config, planned = plan(src)
    shards = _shards(planned, shard_bytes)
    work = dst.parent / f".{dst.name}.partial-{os.getpid()}"
    work.mkdir(parents=True)
    weight_map: dict[str, str] = {}
    total = done = 0
    try:
        for number, shard in enumerate(shards, 1):
            name = f"model-{number:05d}-of-{len(shards):05d}.safetensors"
            tensors = {}
            for p in shard:
                done += 1
                tensors[p.name] = (_unpack(p) if p.scales else _copied(p)).contiguous()
                if p.scales:
                    progress(f"[{done}/{len(planned)}] {p.source} + {p.scales[0]} -> {p.name} "
                             f"BF16 {p.shape} ({p.nbytes / 2**20:.0f} MB)")
                weight_map[p.name] = name
                total += p.nbytes
            save_file(tensors, work / name, metadata={"format": "pt"})
            del tensors
        (work / INDEX).write_text(json.dumps({"metadata": {"total_size": total},
                                              "weight_map": weight_map}, indent=2) + "\n")
        (work / "config.json").write_text(json.dumps(bf16_config(config), indent=2) + "\n")
        skipped = []
        for entry in sorted(src.iterdir()):
            if entry.name in ("config.json", INDEX) or entry.suffix == ".safetensors":
                continue
            if entry.is_dir():  # the hub's original/ and metal/: other formats, not served
                skipped.append(entry.name + "/")
                continue
            shutil.copy2(entry, work / entry.name)
        if skipped:
            progress(f"not copied (other formats of the weights): {', '.join(skipped)}")
        work.rename(dst)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return Converted(dst, len(planned), sum(1 for p in planned if p.scales), total,
                     round(time.monotonic() - started, 1), peak_kb / 1024)
