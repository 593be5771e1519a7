// Runs sentencepiece_oracle.py (real SentencePiece, Debian's python3-sentencepiece) once per model and
// hands the tests its vocabulary, settings and reference encodings.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "local_engine/tokenizer/vocabulary.h"

namespace mg::engine::testing {

struct OracleCase {
  std::string category;
  std::string text;                // the bytes SentencePiece encoded
  std::vector<std::int32_t> ids;   // its EncodeAsIds(text)
  std::string decoded;             // its DecodeIds(ids)
};

// DecodeIds of an id sequence that no encoding gives (broken byte runs, control pieces between words).
struct OracleDecodeCase {
  std::vector<std::int32_t> ids;
  std::string decoded;
};

struct OracleRun {
  std::map<std::string, std::string, std::less<>> spec;  // model settings by name (see the script)
  Vocabulary vocabulary;
  std::vector<OracleCase> cases;               // one per line of test_strings.txt
  std::vector<OracleDecodeCase> decode_cases;  // random, from a fixed seed
};

// The model file's name in tests/local_engine/data/mistral_tokenizer/. The script runs on the first call
// per model; later calls return the same run. Throws std::runtime_error (with what to install when the
// cause is a missing /usr/bin/python3 or sentencepiece) if the oracle cannot run or its output is broken.
const OracleRun& oracle_run(std::string_view model_file);

// Printable form of arbitrary bytes for failure messages: valid UTF-8 as is, control characters,
// backslashes and malformed bytes as \xNN.
std::string escaped(std::string_view bytes);

}  // namespace mg::engine::testing
