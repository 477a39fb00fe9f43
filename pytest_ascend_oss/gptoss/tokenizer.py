"""A Hugging Face ``tokenizer.json`` for o200k_harmony, built offline from the verified vocab.

The split pattern and the special tokens are taken from tiktoken's own o200k_harmony definition
(its loader pointed at our local file instead of the network), and the conversion is
transformers' TikTokenConverter, so nothing about the encoding is restated here.
"""

from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

from .vocab import FILENAME, SHA256

# What a gpt-oss checkpoint's tokenizer_config.json names them (harmony ends a turn with
# <|return|>, pads with <|endoftext|>).
BOS, EOS, PAD = "<|startoftext|>", "<|return|>", "<|endoftext|>"
PROBE_TEXTS = ("The secret code is 7842.", "法国的首都是巴黎。", "def f(x):\n    return x**2  # ok")


def harmony_spec(vocab_dir: Path) -> dict:
    """tiktoken's o200k_harmony definition, its ranks read from ``vocab_dir``."""
    import tiktoken.load
    from tiktoken_ext import openai_public

    local = str(Path(vocab_dir) / FILENAME)

    def load_local(_url: str, expected_hash: str | None = None) -> dict[bytes, int]:
        return tiktoken.load.load_tiktoken_bpe(local, expected_hash=expected_hash or SHA256)

    with mock.patch.object(openai_public, "load_tiktoken_bpe", load_local):
        return openai_public.o200k_harmony()


def write_tokenizer(vocab_dir: Path, out_dir: Path, model_max_length: int) -> None:
    import tiktoken
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    spec = harmony_spec(vocab_dir)
    # One name per id: tiktoken lists id 200018 twice (<|endofprompt|> first, then a reserved
    # name); gpt-oss's own tokenizer.json uses the first.
    names_by_id: dict[int, str] = {}
    for name, token_id in spec["special_tokens"].items():
        names_by_id.setdefault(token_id, name)
    specials = sorted(((name, i) for i, name in names_by_id.items()), key=lambda kv: kv[1])
    first_special = len(spec["mergeable_ranks"])
    # The converter appends specials after the ranks in list order; they must land on their ids.
    if [i for _, i in specials] != list(range(first_special, first_special + len(specials))):
        raise RuntimeError("o200k_harmony special tokens are not contiguous after the ranks")
    backend = TikTokenConverter(
        vocab_file=str(Path(vocab_dir) / FILENAME),
        pattern=spec["pat_str"],
        extra_special_tokens=[name for name, _ in specials],
    ).converted()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        model_max_length=model_max_length,
    )
    fast.save_pretrained(out_dir)
    # transformers 5 names its own backend class ("TokenizersBackend"), which the transformers 4
    # of older vLLM releases (4.57 beside vLLM 0.18, the vLLM vllm-ascend 0.18 pins) cannot load;
    # gpt-oss-20b's own tokenizer_config.json names PreTrainedTokenizerFast, which both load.
    config_path = Path(out_dir) / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n",
                           encoding="utf-8")

    reference = tiktoken.Encoding(
        spec["name"], pat_str=spec["pat_str"], mergeable_ranks=spec["mergeable_ranks"],
        special_tokens=spec["special_tokens"],
    )
    for text in PROBE_TEXTS:  # the HF tokenizer must give tiktoken's ids, or nothing is exact
        ours = fast.encode(text, add_special_tokens=False)
        if ours != reference.encode(text):
            raise RuntimeError(f"converted tokenizer disagrees with tiktoken on {text!r}")
    if fast.convert_tokens_to_ids("<|return|>") != spec["special_tokens"]["<|return|>"]:
        raise RuntimeError("converted tokenizer has <|return|> at the wrong id")
