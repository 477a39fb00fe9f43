"""GptOssForCausalLM's forward pass, written out for training the canary on 2 CPU cores.

transformers' eager gpt-oss path loops over experts per token and builds its masks for
generation; for a 128-wide model on short training sequences that overhead dominates. This
forward computes the same function (checked against transformers in testing/unit/embedded/test_canary.py)
with dense experts, explicit position ids (so sequences can skip positions to see long
distances without being long) and logits for a chosen subset of the vocabulary only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-5
SWIGLU_ALPHA, SWIGLU_LIMIT = 1.702, 7.0


def rms_norm(x, weight):
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS))


def rotate(x, cos, sin):
    """Half-split RoPE as gpt-oss applies it; x is (B, heads, T, 64), cos/sin (B, 1, T, 32)."""
    first, second = x.chunk(2, dim=-1)
    return torch.cat((first * cos - second * sin, second * cos + first * sin), dim=-1)


def rope_tables(positions, inv_freq, attention_scaling):
    """(cos, sin) for ``rotate``, (B, 1, T, 32), from position ids (B, T)."""
    freqs = positions[..., None].float() * inv_freq
    return (freqs.cos() * attention_scaling)[:, None], (freqs.sin() * attention_scaling)[:, None]


def attention_scores(p, prefix, x, cos, sin, window, heads=2, head_dim=64, key_bias=None):
    """Attention logits (B, heads, T, T + 1): every key's score, masked causally (and to the
    sliding window), then the head's sink as the last column."""
    b, t, _ = x.shape
    q = F.linear(x, p[prefix + "q_proj.weight"], p[prefix + "q_proj.bias"])
    k = F.linear(x, p[prefix + "k_proj.weight"], p[prefix + "k_proj.bias"])
    q = rotate(q.view(b, t, heads, head_dim).transpose(1, 2), cos, sin)
    k = rotate(k.view(b, t, 1, head_dim).transpose(1, 2), cos, sin)
    scores = (q @ k.transpose(-1, -2)) * head_dim ** -0.5
    index = torch.arange(t)
    allowed = index[None, :] <= index[:, None]
    if window:
        allowed &= index[:, None] - index[None, :] < window
    if key_bias is not None:
        scores = scores + key_bias[:, None, None, :]
    scores = scores.masked_fill(~allowed, float("-inf"))
    sinks = p[prefix + "sinks"].view(1, heads, 1, 1).expand(b, heads, t, 1)
    return torch.cat((scores, sinks), dim=-1)


def attention(p, prefix, x, cos, sin, window, heads=2, head_dim=64, key_bias=None):
    b, t, _ = x.shape
    v = F.linear(x, p[prefix + "v_proj.weight"], p[prefix + "v_proj.bias"])
    v = v.view(b, t, 1, head_dim).transpose(1, 2)
    scores = attention_scores(p, prefix, x, cos, sin, window, heads, head_dim, key_bias)
    probs = torch.softmax(scores, dim=-1)[..., :-1]
    out = (probs @ v).transpose(1, 2).reshape(b, t, heads * head_dim)
    return F.linear(out, p[prefix + "o_proj.weight"], p[prefix + "o_proj.bias"])


def experts(p, prefix, x, top_k=2):
    logits = F.linear(x, p[prefix + "router.weight"], p[prefix + "router.bias"])
    top_values, top_index = logits.topk(top_k, dim=-1)
    weights = torch.zeros_like(logits).scatter(-1, top_index, torch.softmax(top_values, dim=-1))
    gate_up = torch.einsum("btd,edf->btef", x, p[prefix + "experts.gate_up_proj"])
    gate_up = gate_up + p[prefix + "experts.gate_up_proj_bias"]
    gate, up = gate_up[..., ::2], gate_up[..., 1::2]
    gate = gate.clamp(max=SWIGLU_LIMIT)
    up = up.clamp(-SWIGLU_LIMIT, SWIGLU_LIMIT)
    hidden = (up + 1) * gate * torch.sigmoid(gate * SWIGLU_ALPHA)
    out = torch.einsum("btef,efd->bted", hidden, p[prefix + "experts.down_proj"])
    out = out + p[prefix + "experts.down_proj_bias"]
    return (out * weights[..., None]).sum(-2)


def hidden_states(p, embed, ids, positions, inv_freq, attention_scaling, layer_windows,
                  log_copies=None):
    """Final normed hidden states (B, T, hidden). ``embed(ids)`` gives input embeddings.

    ``log_copies`` (B, T), if given, is ln(m) for a token that stands for m copies of itself in
    the full-attention layers: adding ln(m) to a key's score is exactly attending over m
    identical keys (m e^s of the softmax's mass, m e^s v of its output). A 2,048-token haystack
    whose filler counts 64 times carries a 131,072-token context's attention mass, which PoSE
    position jumps do not: with them the model sees long distances, never the thousands of
    half-matching filler tokens that outweigh an attention sink at real length (the stage-3
    canary's no-needle answer broke exactly there). Sliding-window layers see a local window
    whose mass does not grow with the context, so they are left alone."""
    x = residual_stream(p, embed(ids), positions, inv_freq, attention_scaling, layer_windows,
                        log_copies)
    return rms_norm(x, p["model.norm.weight"])


def residual_stream(p, x, positions, inv_freq, attention_scaling, layer_windows, log_copies=None):
    """The residual stream after ``len(layer_windows)`` layers, from input embeddings ``x``."""
    cos, sin = rope_tables(positions, inv_freq, attention_scaling)
    for layer, window in enumerate(layer_windows):
        prefix = f"model.layers.{layer}."
        x = x + attention(p, prefix + "self_attn.", rms_norm(x, p[prefix + "input_layernorm.weight"]),
                          cos, sin, window, key_bias=None if window else log_copies)
        x = x + experts(p, prefix + "mlp.", rms_norm(x, p[prefix + "post_attention_layernorm.weight"]))
    return x
