#!/usr/bin/python3
"""The oracle of the tokenizer tests: real SentencePiece (Debian's python3-sentencepiece) on a model file.

Usage: sentencepiece_oracle.py MODEL STRINGS_FILE

STRINGS_FILE holds one test string per line, written as the inside of a Python bytes literal (\\n, \\r,
\\t, \\\\ and \\xNN for raw bytes, so CRLF and invalid UTF-8 survive; other text is UTF-8 as is). Lines
starting with "## " name the category of the strings below them; an empty line is the empty string. A
string starting with "#" is written with \\x23, trailing spaces as \\x20 (so editors keep them).

Output, one record a line, fields separated by one tab, every string as lowercase hex of its bytes (so
the C++ side needs no JSON parser and no unescaping):
  spec    NAME VALUE                          model settings the C++ tokenizer assumes (see spec_lines)
  piece   ID PIECE_HEX SCORE TYPE             every piece of the vocabulary, SCORE as Python repr
  case    CATEGORY_HEX TEXT_HEX IDS DECODED_HEX    IDS comma-separated (may be empty); DECODED_HEX is
                                              SentencePiece's DecodeIds(EncodeAsIds(text))
  decode  IDS DECODED_HEX                     DecodeIds of random id sequences no encoding would give
                                              (broken byte runs, control pieces between words, "▁" first)
  end     N                                   N cases written; a missing end means a truncated run
"""
import codecs
import random
import sys

try:
    import sentencepiece
except ImportError:
    sys.stderr.write("python3-sentencepiece is missing: run scripts/install-deps.sh\n")
    sys.exit(3)


# --- A minimal protobuf wire-format reader: python3-protobuf is not a dependency, and we need only a
# --- few scalar fields of ModelProto (src/sentencepiece_model.proto).
def read_varint(data, pos):
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def read_fields(data):
    """{field number: [raw values]}: ints for varints, bytes for length-delimited, bytes for fixed."""
    fields, pos = {}, 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, pos = read_varint(data, pos)
        elif wire_type == 1:
            value, pos = data[pos:pos + 8], pos + 8
        elif wire_type == 2:
            length, pos = read_varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        elif wire_type == 5:
            value, pos = data[pos:pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire_type}")
        fields.setdefault(number, []).append(value)
    return fields


def last(fields, number, default):
    return fields[number][-1] if number in fields else default


def spec_lines(model_bytes):
    """The settings that change encoding or decoding, with the proto defaults where a field is absent."""
    model = read_fields(model_bytes)
    trainer = read_fields(last(model, 2, b""))
    normalizer = read_fields(last(model, 3, b""))
    denormalizer = read_fields(last(model, 5, b""))
    model_types = {1: "unigram", 2: "bpe", 3: "word", 4: "char"}
    return [
        ("model_type", model_types.get(last(trainer, 3, 1), "other")),
        ("byte_fallback", int(last(trainer, 35, 0))),
        ("treat_whitespace_as_suffix", int(last(trainer, 24, 0))),
        ("unk_surface_hex", last(trainer, 44, " \u2047 ".encode()).hex()),
        ("normalizer_name", last(normalizer, 1, b"").decode()),
        ("precompiled_charsmap_bytes", len(last(normalizer, 2, b""))),
        ("add_dummy_prefix", int(last(normalizer, 3, 1))),
        ("remove_extra_whitespaces", int(last(normalizer, 4, 1))),
        ("escape_whitespaces", int(last(normalizer, 5, 1))),
        ("denormalizer_charsmap_bytes", len(last(denormalizer, 2, b""))),
    ]


def read_cases(path):
    """[(category, bytes)] from the strings file (see the module comment)."""
    cases, category = [], "uncategorised"
    with open(path, "rb") as f:
        for raw_line in f.read().split(b"\n"):
            line = raw_line.decode("utf-8")
            if line.startswith("## "):
                category = line[3:].strip()
                continue
            cases.append((category, codecs.escape_decode(line.encode("utf-8"))[0]))
    if cases and cases[-1][1] == b"":  # the file's final newline is not a case
        cases.pop()
    return cases


def main():
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        sys.exit(2)
    model_path, strings_path = sys.argv[1], sys.argv[2]
    with open(model_path, "rb") as f:
        model_bytes = f.read()
    processor = sentencepiece.SentencePieceProcessor(model_file=model_path)
    out = sys.stdout

    for name, value in spec_lines(model_bytes):
        out.write(f"spec\t{name}\t{value}\n")
    for name, value in (("bos_id", processor.bos_id()), ("eos_id", processor.eos_id()),
                        ("unk_id", processor.unk_id()), ("version", sentencepiece.__version__)):
        out.write(f"spec\t{name}\t{value}\n")

    types = piece_types(model_bytes)
    assert len(types) == processor.get_piece_size(), "the model file and SentencePiece disagree on the size"
    for piece_id, piece_type in enumerate(types):
        piece = processor.id_to_piece(piece_id).encode("utf-8")
        score = processor.get_score(piece_id)
        out.write(f"piece\t{piece_id}\t{piece.hex()}\t{score!r}\t{piece_type}\n")

    cases = read_cases(strings_path)
    for category, text in cases:
        ids = processor.encode_as_ids(text)
        decoded = processor.decode_ids(ids).encode("utf-8")
        out.write(f"case\t{category.encode().hex()}\t{text.hex()}\t{','.join(map(str, ids))}\t{decoded.hex()}\n")
    for ids in random_id_sequences(processor):
        out.write(f"decode\t{','.join(map(str, ids))}\t{processor.decode_ids(ids).encode('utf-8').hex()}\n")
    out.write(f"end\t{len(cases)}\n")


def random_id_sequences(processor, count=400, seed=20240517):
    """Id sequences mixing byte pieces (parts of valid characters, stray and invalid bytes), control and
    unknown pieces, and pieces with and without a leading "▁": the cases where decoding has rules."""
    pieces = ["<unk>", "<s>", "</s>", "[INST]", "[REFERENCE_DOC_1]", "\u2581", "\u2581\u2581", "\u2581the",
              "the", "\u2581Hello", "Hello", ",", "\u2581\u2581\u2581\u2581"]
    pieces += [f"<0x{byte:02X}>" for byte in (0x41, 0x20, 0x0A, 0xC3, 0xA9, 0xE4, 0xBD, 0xA0, 0xF0, 0x9F,
                                              0x98, 0x80, 0xFF, 0xED, 0xBF, 0xC0, 0xEF)]
    pool = [processor.piece_to_id(p) for p in pieces
            if processor.id_to_piece(processor.piece_to_id(p)) == p]  # pieces this model has
    generator = random.Random(seed)
    return [[generator.choice(pool) for _ in range(generator.randrange(13))] for _ in range(count)]


def piece_types(model_bytes):
    """ModelProto.SentencePiece.type of every piece, in id order (NORMAL when the field is absent): the
    Python API has no is_user_defined, so the model file says it."""
    return [last(read_fields(piece), 3, 1) for piece in read_fields(model_bytes).get(1, [])]


if __name__ == "__main__":
    main()
