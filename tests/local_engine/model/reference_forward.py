#!/usr/bin/python3
"""An independent reference for the engine's forward pass, for the tests only.

Written from the published Mistral / Mixtral architecture (RMSNorm, rotary position embeddings on
interleaved pairs as GGUF's llama layout stores Q and K, grouped-query attention with an optional sliding
window, SwiGLU, and for Mixtral a softmax over the top-k router logits), in float64 NumPy over the whole
sequence at once. It reads the GGUF file with its own parser and dequantizes with its own code, from the
block formats' published definitions.

The engine, like llama.cpp, rounds each matrix product's input to 8-bit blocks before it meets quantized
weights (Q8_0 blocks of 32 for Q4_0 and Q8_0 weights, Q8_K blocks of 256 for the K-quants). Rounding is
a discontinuity: where a value sits within float error of a rounding boundary, the engine and any
reference may round it apart, and one such quantum can move the logits by 1e-2. So with
--engine-inputs FILE (the engine's rounded inputs, recorded per tensor and position) the reference checks
that every one of them is a correct rounding of its own input (scale within 1e-4, each quant within 0.5
+ 1e-3 of its own value / scale) and then computes with the engine's choice; without it, it multiplies
the exact dequantized weights by unrounded inputs.

usage: reference_forward.py [--engine-inputs FILE] MODEL.gguf PROMPT_IDS(comma-separated) GREEDY_STEPS
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
    tensors, kinds = {}, {}
    for name, dims, kind, offset in infos:
        kinds[name] = kind
        count = int(np.prod(dims))
        per_block, block_bytes = BLOCKS[kind]
        raw = np.frombuffer(data, dtype=np.uint8, count=count // per_block * block_bytes, offset=base + offset)
        # numpy shape is the reverse of ggml's: [.., ne1, ne0]
        tensors[name] = dequantize(kind, raw, count).reshape(list(reversed(dims)))
    return meta, tensors, kinds


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


# ---- the engine's rounded inputs ----------------------------------------------------------------------

# activation type id -> (elements per block, bytes per block, numpy dtype of its scale): Q8_0 keeps its
# scale as f16, Q8_K as f32 (and 16 int16 sums of 16 quants after its 256 quants)
ACTIVATION_BLOCKS = {8: (32, 34, np.float16), 15: (256, 292, np.float32)}
# weight type id -> the activation type the engine rounds its inputs to
ACTIVATION_FOR = {2: 8, 8: 8, 12: 15, 14: 15}
SCALE_TOLERANCE = 1e-4  # relative: the engine's block scale against the reference's (past f16 rounding)
QUANT_SLACK = 1e-3      # quants: how far past a rounding boundary float error may carry the engine


def read_engine_inputs(path):
    """Records of (tensor name as a GGUF string, u32 slab, u32 position, u32 activation type, u32 n, blocks)."""
    data = open(path, "rb").read()
    r = Reader(data)
    inputs = {}
    while r.at < len(data):
        name = r.string()
        slab, position, kind, n = (r.scalar("<I") for _ in range(4))
        size, block_bytes, scale_type = ACTIVATION_BLOCKS[kind]
        blocks = np.frombuffer(data, dtype=np.uint8, count=n // size * block_bytes, offset=r.at).reshape(-1, block_bytes)
        r.at += blocks.size
        scale_bytes = np.dtype(scale_type).itemsize
        scales = blocks[:, 0:scale_bytes].copy().view(scale_type).astype(np.float64).reshape(-1)
        quants = blocks[:, scale_bytes:scale_bytes + size].view(np.int8).astype(np.float64)
        inputs[(name, slab, position)] = (kind, scales, quants)
    return inputs


def engine_rounding(x, name, slab, position, kind, inputs):
    """The engine's rounding of x (one token's input to `name`), after checking that it is one."""
    key = (name, slab, position)
    if key not in inputs:
        sys.exit("the engine recorded no input for %s[%d] at position %d" % key)
    recorded_kind, scales, quants = inputs[key]
    size = ACTIVATION_BLOCKS[ACTIVATION_FOR[kind]][0]
    blocks = x.reshape(-1, size)
    expected = np.abs(blocks).max(axis=1) / 127
    if recorded_kind != ACTIVATION_FOR[kind] or scales.shape[0] != blocks.shape[0]:
        sys.exit("%s[%d] at position %d: the engine's input has the wrong format" % key)
    storage_rounding = 2.0 ** -11 if ACTIVATION_BLOCKS[recorded_kind][2] == np.float16 else 0.0  # half an f16 step
    if np.any(np.abs(scales - expected) > (SCALE_TOLERANCE + storage_rounding) * expected + 1e-30):
        sys.exit("%s[%d] at position %d: block scales %s, expected %s" % (key + (scales, expected)))
    exact = np.divide(blocks, expected[:, None], out=np.zeros_like(blocks), where=expected[:, None] != 0)
    worst = np.abs(quants - exact).max()
    if worst > 0.5 + QUANT_SLACK:
        sys.exit("%s[%d] at position %d: a quant is %.4f from its value / scale" % (key + (worst,)))
    return (quants * scales[:, None]).reshape(-1)


# ---- the model --------------------------------------------------------------------------------------------

class Model:
    def __init__(self, path, engine_inputs):
        meta, self.t, self.kinds = read_gguf(path)
        self.engine_inputs = engine_inputs
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

    def product(self, x, name, expert=None, positions=None):
        """x @ W.T for the weight tensor `name` (one expert's slice of a merged tensor); row i of x is the
        token at positions[i] (default: i)."""
        weight = self.t[name] if expert is None else self.t[name][expert]
        kind = self.kinds[name]
        if self.engine_inputs is not None and kind in ACTIVATION_FOR:
            positions = range(x.shape[0]) if positions is None else positions
            x = np.stack([engine_rounding(row, name, expert or 0, p, kind, self.engine_inputs) for row, p in zip(x, positions)])
        return x @ weight.T

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
        q = self.product(h, p + "attn_q.weight").reshape(n, self.n_head, self.head)
        k = self.product(h, p + "attn_k.weight").reshape(n, self.n_head_kv, self.head)
        v = self.product(h, p + "attn_v.weight").reshape(n, self.n_head_kv, self.head)
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
        return self.product(out, p + "attn_output.weight")

    def swiglu(self, h, names, expert=None, positions=None):
        gate, up, down = names
        g = self.product(h, gate, expert, positions)
        return self.product((g / (1.0 + np.exp(-g))) * self.product(h, up, expert, positions), down, expert, positions)

    def expert(self, layer, e):
        """The (gate, up, down) tensor names of expert e and its index in them (None: their own tensors)."""
        p = "blk.%d." % layer
        if p + "ffn_gate_exps.weight" in self.t:
            return (p + "ffn_gate_exps.weight", p + "ffn_up_exps.weight", p + "ffn_down_exps.weight"), e
        return (p + "ffn_gate.%d.weight" % e, p + "ffn_up.%d.weight" % e, p + "ffn_down.%d.weight" % e), None

    def feed_forward(self, h, layer):
        p = "blk.%d." % layer
        if not self.n_expert:
            return self.swiglu(h, (p + "ffn_gate.weight", p + "ffn_up.weight", p + "ffn_down.weight"))
        router = self.product(h, p + "ffn_gate_inp.weight")  # [tokens, n_expert]
        out = np.zeros_like(h)
        for token in range(h.shape[0]):
            chosen = np.argsort(-router[token], kind="stable")[:self.n_used]
            weights = np.exp(router[token, chosen] - router[token, chosen].max())
            weights /= weights.sum()
            for weight, e in zip(weights, chosen):
                out[token] += weight * self.swiglu(h[token:token + 1], *self.expert(layer, e), positions=[token])[0]
        return out

    def logits(self, tokens):
        x = self.w("token_embd.weight")[tokens]
        for layer in range(self.n_layer):
            p = "blk.%d." % layer
            x = x + self.attention(self.norm(x, self.w(p + "attn_norm.weight")), layer)
            x = x + self.feed_forward(self.norm(x, self.w(p + "ffn_norm.weight")), layer)
        out = "output.weight" if "output.weight" in self.t else "token_embd.weight"
        return self.product(self.norm(x, self.w("output_norm.weight")), out)


def main():
    args = sys.argv[1:]
    engine_inputs = None
    if args[0] == "--engine-inputs":
        engine_inputs = read_engine_inputs(args[1])
        args = args[2:]
    path, prompt_ids, steps = args
    model = Model(path, engine_inputs)
    prompt = [int(t) for t in prompt_ids.split(",")]
    steps = int(steps)
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
