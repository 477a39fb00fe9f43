"""Who counts a prompt's tokens: the server (``/tokenize``), a local copy of its tokenizer, or
nobody, and then the server's ``usage`` after the fact.

vLLM offers ``/tokenize`` and ``/detokenize``, and with them every prompt is made exactly N tokens
by the server's own count. Another engine serving the GPU side, or a gateway in front of vLLM,
answers 404 there. Then ``--tokenizer DIR`` (the checkpoint's tokenizer files, loaded offline by
transformers) counts instead, exactly as far as it is the server's tokenizer (the run's
prompt-length check, against ``usage.prompt_tokens``, says whether it was). Without either, the
prompt is sized from a tokens-per-word ratio the server's own usage gives on two calibration
prompts: about N tokens; the lengths reported are the server's usage, and no exact-size check is
claimed for them.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from ..transport import vllm
from ..transport.http import ServerError

# Statuses of an endpoint that is not there (a gateway, another engine): anything else from
# /tokenize (401, 500) is an error to show, never a reason to size prompts another way.
ABSENT = (404, 405, 501)
CALIBRATION_WORDS = 400


class SizingError(ValueError):
    """The prompts cannot be sized as asked (the message says why)."""


class ServerTokenizer:
    exact = True

    def __init__(self, http: httpx.Client, model: str):
        self.http, self.model = http, model
        self.description = "the server's /tokenize (exact)"

    def encode(self, text: str) -> list[int]:
        return vllm.tokenize(self.http, self.model, text)

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def decode(self, ids: list[int]) -> str:
        return vllm.detokenize(self.http, self.model, ids)


class LocalTokenizer:
    exact = True

    def __init__(self, directory: Path):
        try:
            from transformers import AutoTokenizer
        except ImportError:
            raise SizingError(f"--tokenizer {directory} needs transformers (pip install "
                              "'pytest-ascend-oss[reference]')") from None
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise SizingError(f"--tokenizer {directory}: no tokenizer could be loaded from it "
                              f"({str(exc).splitlines()[0]})") from None
        self.description = f"local tokenizer {directory} (the server has no /tokenize)"

    def encode(self, text: str) -> list[int]:
        return self._tokenizer.encode(text, add_special_tokens=False)

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def decode(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids)


class UsageRatio:
    """No tokenizer: words per token from the server's ``usage.prompt_tokens`` of calibration
    prompts (seeded apart from any real prompt, so none of them is in the prefix cache)."""

    exact = False

    def __init__(self, http: httpx.Client, model: str, words_text):
        self.http, self.model = http, model
        counts = [self.count(words_text(seed, CALIBRATION_WORDS)) for seed in (-1, -2)]
        self.tokens_per_word = sum(counts) / (len(counts) * CALIBRATION_WORDS)
        self.description = (f"approximate: the server has no /tokenize and no --tokenizer was "
                            f"given; {self.tokens_per_word:.3f} tokens per word from "
                            "usage.prompt_tokens; lengths reported are the server's usage")

    def count(self, text: str) -> int:
        """The server's count of ``text`` as a completions prompt (one generated token)."""
        answer = self.http.post("/v1/completions", json={"model": self.model, "prompt": text,
                                                         "max_tokens": 1})
        if answer.status_code != 200:
            raise ServerError(f"sizing request answers {answer.status_code}: "
                              f"{answer.text[:300]}")
        return answer.json()["usage"]["prompt_tokens"]

    def words_for(self, tokens: int) -> int:
        return max(1, round(tokens / self.tokens_per_word))


def choose(http: httpx.Client, model: str, tokenizer_dir: Path | None, words_text):
    """The server's tokenizer where it has /tokenize; else the local one; else the usage
    ratio. ``words_text(seed, words)`` makes the pseudo-text the prompts are made of."""
    answer = http.post("/tokenize", json={"model": model, "prompt": "Hello",
                                          "add_special_tokens": False})
    if answer.status_code == 200:
        return ServerTokenizer(http, model)
    if answer.status_code not in ABSENT:
        raise ServerError(f"/tokenize answers {answer.status_code}: {answer.text[:300]}")
    if tokenizer_dir is not None:
        return LocalTokenizer(tokenizer_dir)
    return UsageRatio(http, model, words_text)
