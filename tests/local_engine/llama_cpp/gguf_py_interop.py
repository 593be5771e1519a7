#!/usr/bin/python3
"""Drives gguf-py, the GGUF library of llama.cpp's converters (taken from the llama.cpp source that the
node-llama-cpp package ships), for the engine's interop tests. Run with gguf-py on PYTHONPATH.

usage:
  gguf_py_interop.py write OUT.gguf SHAPE TYPE
      writes a tiny random llama model the way llama.cpp's converters do: SHAPE is mistral or mixtral,
      TYPE is F32, BF16, Q8_0, Q4_0 or Q5_1 (gguf-py's own quantizers)
  gguf_py_interop.py dequantize TYPE BLOCKS.bin OUT.bin
      dequantizes raw blocks of a ggml type with gguf-py, writing float32s
"""
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType

N_VOCAB, N_EMBD, N_FF, N_HEAD, N_HEAD_KV, N_LAYER, N_EXPERT = 300, 256, 512, 8, 2, 2, 4


def vocabulary():
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL] + [gguf.TokenType.BYTE] * 256
    letters = "etaoinshrdlucmfwypvbgkqjxz"
    pieces = ["\u2581"] + list(letters) + ["\u2581" + c for c in letters]
    for piece in pieces[:N_VOCAB - len(tokens)]:
        tokens.append(piece)
        types.append(gguf.TokenType.NORMAL)
    scores = [0.0] * 259 + [-float(i) for i in range(len(tokens) - 259)]
    return tokens, scores, types


def write(path, shape, type_name):
    random = np.random.default_rng(3)
    qtype = GGMLQuantizationType[type_name]
    moe = shape == "mixtral"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name("gguf-py tiny " + shape)
    writer.add_context_length(512)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_rope_dimension_count(N_EMBD // N_HEAD)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(1000000.0)
    if moe:
        writer.add_expert_count(N_EXPERT)
        writer.add_expert_used_count(2)
    tokens, scores, types = vocabulary()
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)

    def matrix(name, n_rows, n_cols, stack=None):
        shape = (n_rows, n_cols) if stack is None else (stack, n_rows, n_cols)
        data = (random.uniform(-1, 1, size=shape) * np.sqrt(3.0 / n_cols)).astype(np.float32)
        if qtype == GGMLQuantizationType.F32:
            writer.add_tensor(name, data)
        else:
            writer.add_tensor(name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)

    def norm(name):
        writer.add_tensor(name, (1.0 + 0.1 * random.uniform(-1, 1, size=N_EMBD)).astype(np.float32))

    kv = N_EMBD // N_HEAD * N_HEAD_KV
    matrix("token_embd.weight", N_VOCAB, N_EMBD)
    for layer in range(N_LAYER):
        p = "blk.%d." % layer
        norm(p + "attn_norm.weight")
        matrix(p + "attn_q.weight", N_EMBD, N_EMBD)
        matrix(p + "attn_k.weight", kv, N_EMBD)
        matrix(p + "attn_v.weight", kv, N_EMBD)
        matrix(p + "attn_output.weight", N_EMBD, N_EMBD)
        norm(p + "ffn_norm.weight")
        if moe:
            writer.add_tensor(p + "ffn_gate_inp.weight", random.uniform(-1, 1, size=(N_EXPERT, N_EMBD)).astype(np.float32) / 16)
            matrix(p + "ffn_gate_exps.weight", N_FF, N_EMBD, N_EXPERT)
            matrix(p + "ffn_up_exps.weight", N_FF, N_EMBD, N_EXPERT)
            matrix(p + "ffn_down_exps.weight", N_EMBD, N_FF, N_EXPERT)
        else:
            matrix(p + "ffn_gate.weight", N_FF, N_EMBD)
            matrix(p + "ffn_up.weight", N_FF, N_EMBD)
            matrix(p + "ffn_down.weight", N_EMBD, N_FF)
    norm("output_norm.weight")
    matrix("output.weight", N_VOCAB, N_EMBD)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def dequantize(type_name, blocks_path, out_path):
    qtype = GGMLQuantizationType[type_name]
    raw = np.fromfile(blocks_path, dtype=np.uint8)
    if qtype == GGMLQuantizationType.F16:
        values = raw.view(np.float16).astype(np.float32)
    else:
        values = gguf.quants.dequantize(raw.reshape(1, -1), qtype).astype(np.float32)
    values.reshape(-1).tofile(out_path)


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        dequantize(sys.argv[2], sys.argv[3], sys.argv[4])
