"""The retrieval circuit, set by hand before training.

Plain gradient descent on this 2-layer model learns the answer format quickly but never finds
retrieval (measured by an earlier prototype: three variants, the code stayed a guess). So the
circuit is wired first and training refines it:

* Layer 0 (sliding window) is two positional heads: head 0 attends exactly one token back,
  head 1 two tokens back. Their queries and keys are constant biases on the fastest RoPE pairs,
  phased so that the score peaks at that offset; the value is the token's identity, which the
  output projection writes into the P1 and P2 slots of the residual stream.
* Layer 1 (full attention) head 0 is an induction head: its query is (current token, previous
  token), its key (previous token, token two back), compared through the RoPE pairs that hardly
  turn over 131,072 positions, so "the token that followed ' code is ' in the haystack" is found
  at any distance. Its value, the identity found there, goes to the ID slot the unembedding
  reads. Head 1 is a second induction head that also compares the words two and three back,
  which tells "The secret code for Alice is" from "... for Bob is".
"""

from __future__ import annotations

import numpy as np
import torch

from .layout import DISTANCE_FREE_PAIRS, HALF, ID, P1, P2, POSITIONAL_PAIRS, SPACE_DIM

POSITIONAL_AMPLITUDE = 7.0   # per pair; about 12 logits between the wanted offset and the next
MATCH_GAIN = 1.7
COPY_GAIN = 2.0


def _orthonormal_rows(rng: np.random.RandomState, rows: int, cols: int) -> np.ndarray:
    q, _ = np.linalg.qr(rng.standard_normal((cols, rows)))
    return q.T.astype(np.float32)


def _phased_query(offset: float, inv_freq: np.ndarray) -> np.ndarray:
    """Query bias that, against the constant key bias, scores highest ``offset`` tokens back."""
    q = np.zeros(2 * HALF, dtype=np.float32)
    for i in POSITIONAL_PAIRS:
        angle = -inv_freq[i] * offset
        q[i], q[i + HALF] = POSITIONAL_AMPLITUDE * np.cos(angle), POSITIONAL_AMPLITUDE * np.sin(angle)
    return q


def _constant_key() -> np.ndarray:
    k = np.zeros(2 * HALF, dtype=np.float32)
    for i in POSITIONAL_PAIRS:
        k[i] = POSITIONAL_AMPLITUDE
    return k


def wire(params: dict[str, torch.Tensor], inv_freq: np.ndarray, seed: int) -> None:
    """Overwrite the attention weights in ``params`` (an HF gpt-oss state dict) with the circuit."""
    rng = np.random.RandomState(seed)
    width = ID.stop - ID.start
    project = _orthonormal_rows(rng, P1.stop - P1.start, width)   # identity -> 28-dim slot code
    t = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))

    # Layer 0: previous-token heads.
    a = "model.layers.0.self_attn."
    # head 1 sits between 2 and 3 back and carries both: the key of a needle's code then holds
    # the word before " is" (" code", or the name in "The secret code for Alice is 1234.")
    q_bias = np.concatenate([_phased_query(1, inv_freq), _phased_query(2.5, inv_freq)])
    params[a + "q_proj.weight"].zero_()
    params[a + "q_proj.bias"].copy_(t(q_bias))
    params[a + "k_proj.weight"].zero_()
    params[a + "k_proj.bias"].copy_(t(_constant_key()))
    v = np.zeros((64, 128), dtype=np.float32)
    v[:width, ID] = np.eye(width)
    params[a + "v_proj.weight"].copy_(t(v))
    params[a + "v_proj.bias"].zero_()
    o = np.zeros((128, 128), dtype=np.float32)
    o[P1, 0:width] = project
    o[P2, 64:64 + width] = project
    params[a + "o_proj.weight"].copy_(t(o))
    params[a + "o_proj.bias"].zero_()
    params[a + "sinks"].fill_(-10.0)

    # Layer 1: induction head (0) and current-token cancel head (1).
    a = "model.layers.1.self_attn."
    pairs = list(DISTANCE_FREE_PAIRS)
    match = _orthonormal_rows(rng, len(pairs), P1.stop - P1.start)  # 28-dim slot code -> 7 dims
    q = np.zeros((128, 128), dtype=np.float32)
    k = np.zeros((64, 128), dtype=np.float32)
    first = [i for i in pairs]
    second = [i + HALF for i in pairs]
    # query(current) . key(previous of j) + query(previous) . key(two back of j)
    q[first, ID] = MATCH_GAIN * match @ project
    k[first, P1] = MATCH_GAIN * match
    q[second, P1] = MATCH_GAIN * match
    k[second, P2] = MATCH_GAIN * match
    # head 1: current <-> previous of j, and (2, 3 back) <-> (2, 3 back of j)
    q[[64 + i for i in first], ID] = MATCH_GAIN * match @ project
    q[[64 + i for i in second], P2] = MATCH_GAIN * match
    q_bias = np.zeros(128, dtype=np.float32)
    params[a + "q_proj.weight"].copy_(t(q))
    params[a + "q_proj.bias"].copy_(t(q_bias))
    params[a + "k_proj.weight"].copy_(t(k))
    params[a + "k_proj.bias"].copy_(t(_constant_key()))
    v = np.zeros((64, 128), dtype=np.float32)
    v[:width, ID] = np.eye(width)
    v[width, SPACE_DIM] = 1.0  # whether the copied token had a leading space travels with it
    params[a + "v_proj.weight"].copy_(t(v))
    params[a + "v_proj.bias"].zero_()
    o = np.zeros((128, 128), dtype=np.float32)
    o[ID, 0:width] = COPY_GAIN * np.eye(width)
    o[ID, 64:64 + width] = COPY_GAIN * np.eye(width)
    o[SPACE_DIM, width] = o[SPACE_DIM, 64 + width] = COPY_GAIN
    params[a + "o_proj.weight"].copy_(t(o))
    params[a + "o_proj.bias"].zero_()
    params[a + "sinks"].copy_(torch.tensor([4.0, 4.0]))


def silence(params: dict[str, torch.Tensor], layer: int) -> None:
    """Make ``layer`` add nothing to the residual stream (zero attention and expert outputs), so
    the model computes what it did without it until a circuit is wired there (lookup.py)."""
    a = f"model.layers.{layer}."
    for name in ("self_attn.o_proj.weight", "self_attn.o_proj.bias",
                 "mlp.experts.down_proj", "mlp.experts.down_proj_bias"):
        params[a + name].zero_()
