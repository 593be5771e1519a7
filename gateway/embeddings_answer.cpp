#include "gateway/embeddings_answer.h"

#include "formats/openai_embeddings.h"

namespace mg::gateway {
namespace {

class EmbeddingsFormat final : public AnswerFormat {
 public:
  explicit EmbeddingsFormat(const ResponseIdentity& identity) : identity_(identity) {}

  // The parser refuses `stream` for embeddings, so these are never asked for; a stream would say nothing.
  std::string stream_event(const ChatEvent&) override { return {}; }
  std::string stream_end() override { return {}; }
  std::string stream_failure(const Error&) override { return {}; }

  Result<std::string> whole(const Completion& completion) override {
    auto [usage, cost] = billed_usage(identity_, completion.usage.value_or(UsageReport{}));
    std::string_view model = identity_.route ? std::string_view(identity_.route->entry->model_id) : std::string_view();
    return embedding_list_json(completion.embeddings, identity_.embedding_encoding, model, usage, cost);
  }

 private:
  const ResponseIdentity& identity_;
};

}  // namespace

std::unique_ptr<AnswerFormat> make_embeddings_format(const ResponseIdentity& identity) { return std::make_unique<EmbeddingsFormat>(identity); }

}  // namespace mg::gateway
