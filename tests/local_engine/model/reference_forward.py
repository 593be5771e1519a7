#!/usr/bin/python3
"""An independent reference for the engine's forward pass, for the tests only.

Written from the published Mistral / Mixtral architecture (RMSNorm, rotary position embeddings on
interleaved pairs as GGUF's llama layout stores Q and K, grouped-query attention with an optional sliding
window, SwiGLU, and for Mixtral a softmax over the top-k router logits), in float64 NumPy over the whole
sequence at once. It reads the GGUF file with its own parser and dequantizes with its own code, from the
block formats' published definitions.

usage: reference_forward.py MODEL.gguf PROMPT_IDS(comma-separated) GREEDY_STEPS
prints one JSON object: {"logits": [[...] per prompt position], "greedy": [ids]}
"""
import json
import struct
import sys

import numpy as np

# ---- GGUF --------------------------------------------------------------------------------------------

SCALAR_FORMATS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
# ggml type id -> (elements per block, bytes per block)
BLOCKS = {0: (1, 4), 1: (1, 2), 30: (1, 2), 2: (32, 18), 8: (32, 34), 12: (256, 144), 14: (256, 210)}


class Reader:
    def __init__(self, data):
        self.data = data
        self.at = 0

    def scalar(self, fmt):
        (value,) = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return value

    def string(self):
        length = self.scalar("<Q")
        text = self.data[self.at:self.at + length].decode("utf-8", "replace")
        self.at += length
        return text

    def value(self, kind):
        if kind == 8:
            return self.string()
        if kind == 9:
            element_kind = self.scalar("<I")
            return [self.value(element_kind) for _ in range(self.scalar("<Q"))]
        return self.scalar(SCALAR_FORMATS[kind])


def read_gguf(path):
    data = open(path, "rb").read()
    r = Reader(data)
    assert r.scalar("<I") == 0x46554747, "not GGUF"
    assert r.scalar("<I") in (2, 3)
    n_tensors, n_kv = r.scalar("<Q"), r.scalar("<Q")
    meta = {}
    for _ in range(n_kv):
        key = r.string()
        meta[key] = r.value(r.scalar("<I"))
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        dims = [r.scalar("<Q") for _ in range(r.scalar("<I"))]
        infos.append((name, dims, r.scalar("<I"), r.scalar("<Q")))
    alignment = meta.get("general.alignment", 32)
    base = (r.at + alignment - 1) // alignment * alignment
    tensors = {}
    for name, dims, kind, offset in infos:
        count = int(np.prod(dims))
        per_block, block_bytes = BLOCKS[kind]
        raw = np.frombuffer(data, dtype=np.uint8, count=count // per_block * block_bytes, offset=base + offset)
        # numpy shape is the reverse of ggml's: [.., ne1, ne0]
        tensors[name] = dequantize(kind, raw, count).reshape(list(reversed(dims)))
    return meta, tensors


# ---- block formats --------------------------------------------------------------------------------------

def f16(raw_pairs):
    return raw_pairs.copy().view(np.float16).astype(np.float64)


def dequantize(kind, raw, count):
    if kind == 0:
        return raw.view(np.float32).astype(np.float64)
    if kind == 1:
        return raw.view(np.float16).astype(np.float64)
    if kind == 30:  # bfloat16: the high half of a float32
        return (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    blocks = raw.reshape(-1, BLOCKS[kind][1])
    if kind == 8:  # Q8_0: f16 scale, 32 signed bytes
        d = f16(blocks[:, 0:2])
        q = blocks[:, 2:34].view(np.int8).astype(np.float64)
        return (d * q).reshape(-1)
    if kind == 2:  # Q4_0: f16 scale, 16 bytes; low nibbles are elements 0-15, high nibbles 16-31, offset 8
        d = f16(blocks[:, 0:2])
        q = blocks[:, 2:18]
        values = np.concatenate([(q & 0x0F), (q >> 4)], axis=1).astype(np.float64) - 8.0
        return (d * values).reshape(-1)
    if kind == 12:
        return dequantize_q4_k(blocks)
    if kind == 14:
        return dequantize_q6_k(blocks)
    raise ValueError("type %d" % kind)


def q4_k_scales_and_mins(packed):
    """The eight 6-bit scales and mins of a Q4_K super-block from its 12 packed bytes."""
    p = packed.astype(np.int64)
    scales = np.zeros((p.shape[0], 8), dtype=np.int64)
    mins = np.zeros((p.shape[0], 8), dtype=np.int64)
    scales[:, 0:4] = p[:, 0:4] & 63
    mins[:, 0:4] = p[:, 4:8] & 63
    scales[:, 4:8] = (p[:, 8:12] & 0x0F) | ((p[:, 0:4] >> 6) << 4)
    mins[:, 4:8] = (p[:, 8:12] >> 4) | ((p[:, 4:8] >> 6) << 4)
    return scales.astype(np.float64), mins.astype(np.float64)


def dequantize_q4_k(blocks):
    # d (f16), dmin (f16), 12 bytes of scales/mins, 128 bytes of nibbles. Each 32-byte group of nibbles
    # holds two 32-element sub-blocks: low nibbles first, then high nibbles.
    d = f16(blocks[:, 0:2])
    dmin = f16(blocks[:, 2:4])
    scales, mins = q4_k_scales_and_mins(blocks[:, 4:16])
    qs = blocks[:, 16:144].reshape(-1, 4, 32)
    out = np.zeros((blocks.shape[0], 8, 32))
    for group in range(4):
        for half, nibbles in enumerate((qs[:, group] & 0x0F, qs[:, group] >> 4)):
            sub = 2 * group + half
            out[:, sub] = d * scales[:, sub:sub + 1] * nibbles - dmin * mins[:, sub:sub + 1]
    return out.reshape(-1)


def dequantize_q6_k(blocks):
    # 128 bytes of low 4 bits, 64 bytes of high 2 bits, 16 signed 8-bit scales (one per 16 elements), d.
    ql = blocks[:, 0:128].astype(np.int64)
    qh = blocks[:, 128:192].astype(np.int64)
    scales = blocks[:, 192:208].view(np.int8).astype(np.float64)
    d = f16(blocks[:, 208:210])
    out = np.zeros((blocks.shape[0], 256))
    for half in range(2):  # each half of 128 elements uses 64 bytes of ql and 32 of qh
        low = ql[:, 64 * half:64 * half + 64]
        high = qh[:, 32 * half:32 * half + 32]
        quarters = [
            (low[:, 0:32] & 0x0F) | (((high >> 0) & 3) << 4),
            (low[:, 32:64] & 0x0F) | (((high >> 2) & 3) << 4),
            (low[:, 0:32] >> 4) | (((high >> 4) & 3) << 4),
            (low[:, 32:64] >> 4) | (((high >> 6) & 3) << 4),
        ]
        for quarter, q in enumerate(quarters):
            start = 128 * half + 32 * quarter
            scale = np.repeat(scales[:, 8 * half + 2 * quarter:8 * half + 2 * quarter + 2], 16, axis=1)
            out[:, start:start + 32] = d * scale * (q - 32)
    return out.reshape(-1)


# ---- the model --------------------------------------------------------------------------------------------

class Model:
    def __init__(self, path):
        meta, self.t = read_gguf(path)
        self.n_layer = meta["llama.block_count"]
        self.n_head = meta["llama.attention.head_count"]
        self.n_head_kv = meta.get("llama.attention.head_count_kv", self.n_head)
        self.n_embd = meta["llama.embedding_length"]
        self.head = self.n_embd // self.n_head
        self.n_rot = meta.get("llama.rope.dimension_count", self.head)
        self.base = meta.get("llama.rope.freq_base", 10000.0)
        self.eps = meta["llama.attention.layer_norm_rms_epsilon"]
        self.n_expert = meta.get("llama.expert_count", 0)
        self.n_used = meta.get("llama.expert_used_count", 0)
        self.window = meta.get("llama.attention.sliding_window")

    def w(self, name):
        return self.t[name]

    def norm(self, x, weight):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * weight

    def rotate(self, x, positions):
        # x: [tokens, heads, head]; pairs (0,1), (2,3), ... of the first n_rot dimensions
        exponent = np.arange(0, self.n_rot, 2) / self.n_rot
        angle = positions[:, None] * self.base ** (-exponent)[None, :]  # [tokens, n_rot/2]
        cos, sin = np.cos(angle)[:, None, :], np.sin(angle)[:, None, :]
        even, odd = x[..., 0:self.n_rot:2].copy(), x[..., 1:self.n_rot:2].copy()
        out = x.copy()
        out[..., 0:self.n_rot:2] = even * cos - odd * sin
        out[..., 1:self.n_rot:2] = even * sin + odd * cos
        return out

    def attention(self, h, layer):
        n = h.shape[0]
        p = "blk.%d." % layer
        q = (h @ self.w(p + "attn_q.weight").T).reshape(n, self.n_head, self.head)
        k = (h @ self.w(p + "attn_k.weight").T).reshape(n, self.n_head_kv, self.head)
        v = (h @ self.w(p + "attn_v.weight").T).reshape(n, self.n_head_kv, self.head)
        positions = np.arange(n, dtype=np.float64)
        q, k = self.rotate(q, positions), self.rotate(k, positions)
        repeat = self.n_head // self.n_head_kv
        k, v = np.repeat(k, repeat, axis=1), np.repeat(v, repeat, axis=1)  # query head i uses KV head i // repeat
        scores = np.einsum("ihd,jhd->hij", q, k) / np.sqrt(self.head)
        i, j = np.indices((n, n))
        allowed = j <= i
        if self.window:
            allowed &= (i - j) < self.window
        scores = np.where(allowed[None], scores, -np.inf)
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        out = np.einsum("hij,jhd->ihd", scores, v).reshape(n, self.n_embd)
        return out @ self.w(p + "attn_output.weight").T

    @staticmethod
    def swiglu(h, gate, up, down):
        g = h @ gate.T
        return ((g / (1.0 + np.exp(-g))) * (h @ up.T)) @ down.T

    def experts(self, layer):
        p = "blk.%d." % layer
        if p + "ffn_gate_exps.weight" in self.t:
            return [(self.w(p + "ffn_gate_exps.weight")[e], self.w(p + "ffn_up_exps.weight")[e], self.w(p + "ffn_down_exps.weight")[e])
                    for e in range(self.n_expert)]
        return [(self.w(p + "ffn_gate.%d.weight" % e), self.w(p + "ffn_up.%d.weight" % e), self.w(p + "ffn_down.%d.weight" % e))
                for e in range(self.n_expert)]

    def feed_forward(self, h, layer):
        p = "blk.%d." % layer
        if not self.n_expert:
            return self.swiglu(h, self.w(p + "ffn_gate.weight"), self.w(p + "ffn_up.weight"), self.w(p + "ffn_down.weight"))
        router = h @ self.w(p + "ffn_gate_inp.weight").T  # [tokens, n_expert]
        experts = self.experts(layer)
        out = np.zeros_like(h)
        for token in range(h.shape[0]):
            chosen = np.argsort(-router[token], kind="stable")[:self.n_used]
            weights = np.exp(router[token, chosen] - router[token, chosen].max())
            weights /= weights.sum()
            for weight, e in zip(weights, chosen):
                out[token] += weight * self.swiglu(h[token:token + 1], *experts[e])[0]
        return out

    def logits(self, tokens):
        x = self.w("token_embd.weight")[tokens]
        for layer in range(self.n_layer):
            p = "blk.%d." % layer
            x = x + self.attention(self.norm(x, self.w(p + "attn_norm.weight")), layer)
            x = x + self.feed_forward(self.norm(x, self.w(p + "ffn_norm.weight")), layer)
        out = self.w("output.weight") if "output.weight" in self.t else self.w("token_embd.weight")
        return self.norm(x, self.w("output_norm.weight")) @ out.T


def main():
    model = Model(sys.argv[1])
    prompt = [int(t) for t in sys.argv[2].split(",")]
    steps = int(sys.argv[3])
    logits = model.logits(np.array(prompt))
    tokens = list(prompt)
    greedy = []
    last = logits[-1]
    for _ in range(steps):
        token = int(np.argmax(last))
        greedy.append(token)
        tokens.append(token)
        last = model.logits(np.array(tokens))[-1]
    json.dump({"logits": logits.tolist(), "greedy": greedy}, sys.stdout)


if __name__ == "__main__":
    main()
