// Constrained decoding for response_format json_object and json_schema: the output is made to parse, and
// to match the schema, by masking every token whose text would take it off the grammar. A schema is
// compiled once into grammar nodes; a JsonMatcher then reads the output a byte at a time with an explicit
// stack (no recursion, bounded depth), and JsonConstraint asks it, token by token, which pieces of the
// vocabulary may come next. Output is compact JSON: no whitespace outside strings.
//
// Supported schema keywords: type (one or a list), properties (every listed property is written, in
// order), required, additionalProperties (absent or false), items, minItems, maxItems, minLength,
// maxLength, enum, const, anyOf and oneOf (whose alternatives begin with different characters), plus
// the annotations description, title, default, examples, format and $schema. Anything else (minimum,
// pattern, $ref, ...) is refused with std::invalid_argument naming it: output that might not validate is
// never passed off as constrained. So that an answer always ends within its tokens, strings without
// maxLength are held to kDefaultMaxLength characters and arrays without maxItems to kDefaultMaxItems.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "local_engine/sampling/token_constraint.h"
#include "local_engine/tokenizer/sentencepiece_tokenizer.h"

namespace mg::engine {

inline constexpr std::uint32_t kDefaultMaxLength = 48;
inline constexpr std::uint32_t kDefaultMaxItems = 6;
inline constexpr std::uint32_t kMaxNumberLength = 18;
inline constexpr std::size_t kMaxJsonDepth = 16;

struct GrammarNode {
  enum class Kind : std::uint8_t { sequence, array, string, number, integer, literals, choice, free_object };
  struct Part {
    std::string text;  // written as is; empty for a child
    int child = -1;
  };
  Kind kind = Kind::literals;
  std::vector<Part> parts;           // sequence: an object's fixed text and its properties' values, in turn
  int items = -1;                    // array: the items' node
  std::uint32_t min_items = 0, max_items = kDefaultMaxItems;
  std::uint32_t min_length = 0, max_length = kDefaultMaxLength;  // string, in characters
  std::vector<std::string> literals;  // literals: the JSON texts allowed (at most 64)
  std::vector<int> alternatives;      // choice: picked by the first character
  std::bitset<256> first;             // the bytes this node's text may begin with
  bool container = false;             // begins with '{' or '[' (a choice skips these at the depth limit)
};

class JsonGrammar {
 public:
  // Any JSON object (response_format json_object).
  static std::shared_ptr<const JsonGrammar> any_object();
  // What `schema_text` (a JSON Schema) allows; std::invalid_argument for what it cannot enforce.
  static std::shared_ptr<const JsonGrammar> from_schema(std::string_view schema_text);
  // A Mistral tool-call list: 1 to `max_calls` of {"name": one of the tools, "arguments": what that
  // tool's parameters schema allows}.
  struct ToolSchema {
    std::string name;
    std::string parameters;  // JSON Schema text; '' or {} for any arguments object
  };
  static std::shared_ptr<const JsonGrammar> tool_calls(const std::vector<ToolSchema>& tools, std::uint32_t max_calls);

  const GrammarNode& node(int index) const { return nodes_[static_cast<std::size_t>(index)]; }
  int root() const { return root_; }
  int any_value() const { return any_; }
  int key_string() const { return key_; }

 private:
  JsonGrammar();
  int add(GrammarNode node);
  int compile(const struct PythonJsonValue& schema, std::size_t depth);
  int compile_typed(const PythonJsonValue& schema, const std::string& type, std::size_t depth);
  int choice_of(std::vector<int> alternatives, const std::string& where);
  int call_named(const std::vector<std::pair<std::string, int>>& calls, std::size_t common);
  void set_first(GrammarNode& node) const;

  std::vector<GrammarNode> nodes_;
  int root_ = -1;
  int any_ = -1;  // any JSON value
  int key_ = -1;  // a free object's key
};

// Reads JSON a byte at a time against a grammar.
class JsonMatcher {
 public:
  // `grammar` must outlive the matcher (copied by value a byte at a time while masking: no refcount).
  explicit JsonMatcher(const JsonGrammar& grammar);

  // Takes the next byte; false (and no change) when the grammar does not allow it here.
  bool feed(unsigned char c);
  bool feed(std::string_view bytes);  // all or nothing
  // The text so far is a whole value: the answer may end here.
  bool complete() const;
  // Nothing more may follow.
  bool finished() const { return size_ == 0; }

 private:
  struct Frame {
    std::uint32_t node;
    std::uint32_t part;   // sequence: the part in progress
    std::uint32_t pos;    // sequence text, literals: bytes matched
    std::uint32_t count;  // array and free object: members so far; string: characters; number: bytes
    std::uint64_t candidates;  // literals: those still matching
    std::uint8_t phase;
    std::uint8_t utf8_left;    // string: continuation bytes still due
  };
  enum class Step { taken, taken_and_done, pass_up, push, rejected };

  Step consume(Frame& frame, unsigned char c);
  Step consume_sequence(Frame& f, const GrammarNode& n, unsigned char c);
  Step consume_array(Frame& f, const GrammarNode& n, unsigned char c);
  Step consume_free_object(Frame& f, unsigned char c);
  Step consume_string(Frame& f, const GrammarNode& n, unsigned char c);
  Step consume_number(Frame& f, bool integer, unsigned char c);
  Step consume_literals(Frame& f, const GrammarNode& n, unsigned char c);
  bool can_end(const Frame& frame) const;
  Frame start(int node) const;
  bool push(int node);

  const JsonGrammar* grammar_;
  std::array<Frame, kMaxJsonDepth> stack_{};
  std::uint32_t size_ = 0;
  int pending_child_ = -1;  // set by a frame that hands the byte to a new child
};

// The vocabulary as a byte trie, built once per tokenizer: each piece under the bytes it decodes to,
// and, for an answer's first piece, the bytes it decodes to there (SentencePiece drops the leading space
// of the first piece). Control, unknown and empty pieces are left out.
class TokenTrie {
 public:
  explicit TokenTrie(const SentencePieceTokenizer& tokenizer);

  struct Node {
    std::vector<std::pair<unsigned char, std::uint32_t>> children;  // sorted by byte
    std::vector<std::int32_t> tokens;                               // pieces that end here
  };
  const std::vector<Node>& nodes(bool first_piece) const { return first_piece ? first_ : later_; }
  std::string_view bytes(std::int32_t token, bool first_piece) const {
    return (first_piece ? first_bytes_ : later_bytes_)[static_cast<std::size_t>(token)];
  }

 private:
  static void insert(std::vector<Node>& trie, std::string_view bytes, std::int32_t token);
  std::vector<Node> later_;
  std::vector<Node> first_;
  std::vector<std::string> later_bytes_;  // [n_vocab]
  std::vector<std::string> first_bytes_;  // [n_vocab]
};

// Another constraint, after one forced token first (Mistral's [TOOL_CALLS] before a call list).
class PrefixedConstraint final : public TokenConstraint {
 public:
  PrefixedConstraint(std::int32_t first_token, std::unique_ptr<TokenConstraint> rest) : first_token_(first_token), rest_(std::move(rest)) {}
  bool mask(std::span<float> logits) override;
  void accept(std::int32_t token) override;

 private:
  std::int32_t first_token_;
  bool first_done_ = false;
  std::unique_ptr<TokenConstraint> rest_;
};

// The grammar as a TokenConstraint: masks the logits of pieces that would break it, and allows the end
// of the answer only where the JSON is whole.
class JsonConstraint final : public TokenConstraint {
 public:
  JsonConstraint(std::shared_ptr<const JsonGrammar> grammar, std::shared_ptr<const TokenTrie> trie, const SentencePieceTokenizer& tokenizer);

  bool mask(std::span<float> logits) override;
  void accept(std::int32_t token) override;

 private:
  void allow_under(std::uint32_t node, const JsonMatcher& state, std::vector<bool>& allowed) const;

  std::shared_ptr<const JsonGrammar> grammar_;
  std::shared_ptr<const TokenTrie> trie_;
  const SentencePieceTokenizer& tokenizer_;
  JsonMatcher matcher_;
  bool first_piece_ = true;
  std::vector<bool> allowed_;  // [n_vocab] scratch
};

}  // namespace mg::engine
