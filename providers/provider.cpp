#include "providers/provider.h"

namespace mg {

void Provider::chat(std::shared_ptr<const ChatRequest> request, const std::string& model_id, const RequestContext& context,
                    std::function<void(Result<Completion>)> on_complete) {
  auto accumulator = std::make_shared<CompletionAccumulator>();
  chat_stream(std::move(request), model_id, context,
              [accumulator, on_complete = std::move(on_complete)](ChatEvent event) {
                accumulator->add(event);
                if (!is_terminal(event)) return;
                if (accumulator->failure()) on_complete(*accumulator->failure());
                else on_complete(accumulator->take());
              });
}

}  // namespace mg
