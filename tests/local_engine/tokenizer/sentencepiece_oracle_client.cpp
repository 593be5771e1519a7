#include "tests/local_engine/tokenizer/sentencepiece_oracle_client.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>

#include "local_engine/tokenizer/utf8.h"
#include "tests/local_engine/support/engine_test_support.h"

namespace mg::engine::testing {
namespace {

constexpr std::string_view install_hint = "; run scripts/install-deps.sh (it installs python3-sentencepiece)";

std::string source_path(std::string_view relative) {
  return std::string(MODELGATE_SOURCE_DIR) + "/" + std::string(relative);
}

std::vector<std::string_view> split(std::string_view line, char separator) {
  std::vector<std::string_view> fields;
  for (std::size_t start = 0;;) {
    const std::size_t end = line.find(separator, start);
    fields.push_back(line.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return fields;
    start = end + 1;
  }
}

std::string from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) throw std::runtime_error("oracle: odd-length hex field '" + std::string(hex) + "'");
  std::string bytes;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    bytes += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  }
  return bytes;
}

std::vector<std::int32_t> parse_ids(std::string_view list) {
  std::vector<std::int32_t> ids;
  if (list.empty()) return ids;
  for (const std::string_view id : split(list, ',')) ids.push_back(std::stoi(std::string(id)));
  return ids;
}

std::string run_oracle(const std::string& command) {
  CommandResult result = run_command_with_status(command);
  if (result.exit_code != 0) {
    throw std::runtime_error("oracle: '" + command + "' failed with status " + std::to_string(result.exit_code) +
                             " (its stderr is above)" + std::string(install_hint));
  }
  return std::move(result.output);
}

void add_piece(Vocabulary& vocabulary, const std::vector<std::string_view>& fields) {
  const auto id = static_cast<std::size_t>(std::stoul(std::string(fields.at(1))));
  if (id != vocabulary.tokens.size()) {
    throw std::runtime_error("oracle: pieces out of order at id " + std::to_string(id));
  }
  vocabulary.tokens.push_back(from_hex(fields.at(2)));
  vocabulary.scores.push_back(std::strtof(std::string(fields.at(3)).c_str(), nullptr));
  vocabulary.types.push_back(static_cast<TokenType>(std::stoi(std::string(fields.at(4)))));
}

OracleRun parse(std::string_view output) {
  OracleRun run;
  bool ended = false;
  for (const std::string_view line : split(output, '\n')) {
    if (line.empty()) continue;
    const std::vector<std::string_view> fields = split(line, '\t');
    if (fields[0] == "spec") {
      run.spec.emplace(std::string(fields.at(1)), std::string(fields.at(2)));
    } else if (fields[0] == "piece") {
      add_piece(run.vocabulary, fields);
    } else if (fields[0] == "case") {
      run.cases.push_back(OracleCase{from_hex(fields.at(1)), from_hex(fields.at(2)), parse_ids(fields.at(3)),
                                     from_hex(fields.at(4))});
    } else if (fields[0] == "decode") {
      run.decode_cases.push_back(OracleDecodeCase{parse_ids(fields.at(1)), from_hex(fields.at(2))});
    } else if (fields[0] == "end") {
      ended = std::stoul(std::string(fields.at(1))) == run.cases.size();
    } else {
      throw std::runtime_error("oracle: unexpected line '" + escaped(line.substr(0, 80)) + "'");
    }
  }
  if (!ended) throw std::runtime_error("oracle: output truncated (no matching end line)");
  run.vocabulary.bos_id = std::stoi(run.spec.at("bos_id"));
  run.vocabulary.eos_id = std::stoi(run.spec.at("eos_id"));
  run.vocabulary.unk_id = std::stoi(run.spec.at("unk_id"));
  run.vocabulary.add_space_prefix = run.spec.at("add_dummy_prefix") == "1";
  return run;
}

OracleRun load(std::string_view model_file) {
  const std::string python = MODELGATE_PYTHON;
  if (!std::filesystem::exists(python)) {
    throw std::runtime_error("oracle: " + python + " is missing" + std::string(install_hint));
  }
  const std::string command = python + " '" + source_path("tests/local_engine/tokenizer/sentencepiece_oracle.py") +
                              "' '" + source_path("tests/local_engine/data/mistral_tokenizer/") +
                              std::string(model_file) + "' '" +
                              source_path("tests/local_engine/tokenizer/test_strings.txt") + "'";
  return parse(run_oracle(command));
}

}  // namespace

const OracleRun& oracle_run(std::string_view model_file) {
  static std::mutex mutex;
  static std::map<std::string, OracleRun, std::less<>> runs;
  const std::lock_guard lock(mutex);
  if (const auto it = runs.find(model_file); it != runs.end()) return it->second;
  return runs.emplace(std::string(model_file), load(model_file)).first->second;
}

std::string escaped(std::string_view bytes) {
  static constexpr char hex_digits[] = "0123456789abcdef";
  std::string out;
  while (!bytes.empty()) {
    const auto byte = static_cast<unsigned char>(bytes[0]);
    const utf8::CharRead read = utf8::read_char(bytes);
    const bool printable = read.valid && (byte >= 0x80 || (byte >= 0x20 && byte < 0x7F && byte != '\\'));
    if (printable) {
      out.append(bytes.substr(0, read.length));
    } else {
      out += "\\x";
      out += hex_digits[byte >> 4];
      out += hex_digits[byte & 0xF];
    }
    bytes.remove_prefix(read.length);
  }
  return out;
}

}  // namespace mg::engine::testing
