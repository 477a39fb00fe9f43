"""The canary's residual-stream layout and the seeded part of its vocabulary.

Only about two thousand of the 201,088 vocab rows are trained; every other row is regenerated
from a seed at build time, so the repository stores megabytes, not the 100 MB checkpoint.
Two choices make that regeneration useful instead of noise:

* The seeded rows live only in the ID dimensions (0..55). The other dimensions are "clean":
  no untrained token ever writes there, so the structure the model learns (which position
  holds a needle, which slot of the answer it is at) cannot be disturbed by filler text.
* Rows are keyed by the token's *stem* (its text without one leading space): " San" and "San"
  share their random identity, and dimension SPACE_DIM says which one has the space. A tool
  call must copy a city it has never seen from " ... in San Francisco?" into
  ``{"location": "San Francisco"}``, where o200k spells the first word without its space;
  with shared stems that copy is linear.

Random vectors come from numpy's legacy RandomState, whose stream is frozen across numpy
versions, so the rows a trained model has come to rely on are the same bit for bit everywhere.
"""

from __future__ import annotations

import numpy as np

HIDDEN = 128
ID = slice(0, 56)        # token identity (seeded for every row)
P1 = slice(56, 84)       # layer 0 head 0 writes the previous token's identity here
P2 = slice(84, 112)      # layer 0 head 1 writes the token two back here
FREE = slice(112, 128)   # learned structure; zero for every untrained row
SPACE_DIM = 112          # 1.0 when the token's text starts with a space

# RoPE pairs (half-split, head_dim 64) by what they can carry: the fastest ones resolve offsets
# of one or two tokens; the slowest turn by under 0.4 rad across 131,072 positions (YaRN
# factor 32), so a match through them looks the same at any distance.
POSITIONAL_PAIRS = tuple(range(6))
DISTANCE_FREE_PAIRS = tuple(range(25, 32))
HALF = 32

INIT_SEED = 20261125


def token_stems(token_bytes: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """(stem index per token, has-leading-space flag per token)."""
    index: dict[bytes, int] = {}
    stems = np.empty(len(token_bytes), dtype=np.int64)
    spaced = np.zeros(len(token_bytes), dtype=np.float32)
    for i, raw in enumerate(token_bytes):
        stem = raw
        if raw.startswith(b" ") and len(raw) > 1:
            stem = raw[1:]
            spaced[i] = 1.0
        stems[i] = index.setdefault(stem, len(index))
    return stems, spaced


def seeded_rows(token_bytes: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Embedding and unembedding for every token before training (vocab x HIDDEN, float32).

    The unembedding row of a token reads the same identity the embedding writes, so "copy the
    token seen there" is one linear map for all 201,088 tokens, seen in training or not.
    """
    stems, spaced = token_stems(token_bytes)
    rng = np.random.RandomState(INIT_SEED)
    width = ID.stop - ID.start
    identity = rng.standard_normal((int(stems.max()) + 1, width)).astype(np.float32)
    embedding = np.zeros((len(token_bytes), HIDDEN), dtype=np.float32)
    embedding[:, ID] = identity[stems]
    embedding[:, SPACE_DIM] = spaced
    unembedding = embedding.copy()
    return embedding, unembedding


def vocab_bytes(vocab_size: int) -> list[bytes]:
    """Every id's bytes under o200k_harmony (specials and reserved ids by their names)."""
    from ...gptoss.harmony import encoding

    enc = encoding()
    return [enc.decode_single_token_bytes(i) for i in range(vocab_size)]
