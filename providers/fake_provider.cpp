#include "providers/fake_provider.h"

#include <sstream>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

namespace mg {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t count_words(const std::string& text) {
  std::istringstream words(text);
  std::int64_t count = 0;
  for (std::string word; words >> word;) ++count;
  return count;
}

// Splits text into "tokens": each word with the whitespace that follows it.
std::vector<std::string> split_tokens(const std::string& text) {
  std::vector<std::string> tokens;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find(' ', start);
    end = end == std::string::npos ? text.size() : end + 1;
    tokens.push_back(text.substr(start, end - start));
    start = end;
  }
  return tokens;
}

const Message* last_message(const ChatRequest& request) {
  return request.messages.empty() ? nullptr : &request.messages.back();
}

std::string last_user_text(const ChatRequest& request) {
  for (auto it = request.messages.rbegin(); it != request.messages.rend(); ++it) {
    if (it->role == Role::user) return it->text();
  }
  return {};
}

// The tool the fake calls, or nullptr when it should answer in text.
const Tool* tool_to_call(const ChatRequest& request) {
  if (request.tools.empty()) return nullptr;
  const Message* last = last_message(request);
  if (last && last->role == Role::tool) return nullptr;
  if (!request.tool_choice) return &request.tools.front();
  switch (request.tool_choice->mode) {
    case ToolChoice::Mode::none: return nullptr;
    case ToolChoice::Mode::function:
      for (const Tool& tool : request.tools) {
        if (tool.name == request.tool_choice->function_name) return &tool;
      }
      return nullptr;
    default: return &request.tools.front();
  }
}

std::string answer_text(const ChatRequest& request) {
  if (request.flavor == ApiFlavor::completion) return "You wrote: " + request.prompt;
  const Message* last = last_message(request);
  if (last && last->role == Role::tool) return "Tool " + last->tool_call_id + " returned: " + last->text();
  return "You said: " + last_user_text(request);
}

// Cuts the text at the first stop sequence; returns the sequence, or '' when none was found.
std::string apply_stop(const ChatRequest& request, std::string& text) {
  std::size_t cut = std::string::npos;
  std::string found;
  for (const std::string& stop : request.stop) {
    std::size_t at = text.find(stop);
    if (at < cut) cut = at, found = stop;
  }
  if (cut != std::string::npos) text.resize(cut);
  return found;
}

std::int64_t append_text_choice(const ChatRequest& request, int choice, std::vector<ChatEvent>& events) {
  std::string text = answer_text(request);
  std::string stop_sequence = apply_stop(request, text);
  std::vector<std::string> tokens = split_tokens(text);
  FinishReason reason = FinishReason::stop;
  if (request.max_tokens && tokens.size() > static_cast<std::size_t>(*request.max_tokens)) {
    tokens.resize(static_cast<std::size_t>(*request.max_tokens));
    reason = FinishReason::length;
  }
  for (std::string& token : tokens) events.push_back(TextDelta{choice, std::move(token)});
  events.push_back(ChoiceFinished{choice, reason, to_string(reason), reason == FinishReason::stop ? stop_sequence : std::string()});
  return static_cast<std::int64_t>(tokens.size());
}

std::int64_t append_tool_call_choice(const ChatRequest& request, const Tool& tool, int choice, std::vector<ChatEvent>& events) {
  std::string arguments = nlohmann::json{{"input", last_user_text(request)}}.dump();
  std::size_t half = arguments.size() / 2;
  std::string id = "call_fake_" + std::to_string(choice);
  events.push_back(ToolCallDelta{choice, 0, id, tool.name, ""});
  events.push_back(ToolCallDelta{choice, 0, "", "", arguments.substr(0, half)});
  events.push_back(ToolCallDelta{choice, 0, "", "", arguments.substr(half)});
  events.push_back(ChoiceFinished{choice, FinishReason::tool_calls, "tool_calls"});
  return 3;
}

Error injected_failure(const std::string& what) {
  return Error::upstream("fake provider: injected " + what, FailureClass::transient, 502);
}

// Plays a planned event list to a sink, with the fake's pacing; stops early on cancellation.
class FakeStream : public std::enable_shared_from_this<FakeStream> {
 public:
  FakeStream(boost::asio::any_io_executor executor, std::vector<ChatEvent> events, EventSink sink, RequestContext context,
             std::chrono::milliseconds first_delay, std::chrono::milliseconds between_delay)
      : timer_(boost::asio::make_strand(executor)), events_(std::move(events)), sink_(std::move(sink)), context_(std::move(context)),
        first_delay_(first_delay), between_delay_(between_delay) {}

  void start() {
    std::weak_ptr<FakeStream> weak = weak_from_this();
    context_.cancellation.on_cancel([weak] {
      if (auto self = weak.lock()) boost::asio::post(self->timer_.get_executor(), [self] { self->timer_.cancel(); });
    });
    schedule(first_delay_);
  }

 private:
  void schedule(std::chrono::milliseconds delay) {
    timer_.expires_after(delay);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code) { self->step(); });
  }

  void step() {
    if (context_.cancellation.cancelled()) {
      sink_(StreamFailed{Error::cancelled("the client went away")});
      return;
    }
    bool last = next_ + 1 == events_.size();
    sink_(std::move(events_[next_++]));
    if (!last) schedule(between_delay_);
  }

  boost::asio::steady_timer timer_;
  std::vector<ChatEvent> events_;
  std::size_t next_ = 0;
  EventSink sink_;
  RequestContext context_;
  std::chrono::milliseconds first_delay_;
  std::chrono::milliseconds between_delay_;
};

std::vector<ChatEvent> embedding_events(const ChatRequest& request) {
  std::vector<ChatEvent> events;
  const EmbeddingInput& input = request.embedding_input;
  for (std::size_t i = 0; i < input.count(); ++i) {
    bool text = !input.texts.empty();
    double words = text ? static_cast<double>(count_words(input.texts[i])) : 0;
    double size = static_cast<double>(text ? input.texts[i].size() : input.token_arrays[i].size());
    events.push_back(EmbeddingVector{static_cast<int>(i), {words, size, static_cast<double>(i), 1.0}});
  }
  events.push_back(UsageReport{fake_prompt_tokens(request), 0, 0});
  events.push_back(StreamDone{});
  return events;
}

std::vector<ChatEvent> plan_events(const ChatRequest& request, const std::string& model_id) {
  if (model_id == "error" || model_id == "slow_error" || model_id == "embed_error") return {StreamFailed{injected_failure("failure before the first token")}};
  if (request.flavor == ApiFlavor::embedding) return embedding_events(request);
  std::vector<ChatEvent> events = fake_answer_events(request);
  if (model_id == "flaky") {
    std::vector<ChatEvent> partial;
    for (ChatEvent& event : events) {
      if (std::holds_alternative<TextDelta>(event) && partial.size() < 2) partial.push_back(std::move(event));
    }
    partial.push_back(StreamFailed{injected_failure("failure mid-stream")});
    return partial;
  }
  return events;
}

}  // namespace

std::int64_t fake_prompt_tokens(const ChatRequest& request) {
  if (request.flavor == ApiFlavor::completion) return count_words(request.prompt);
  std::int64_t count = 0;
  for (const std::string& text : request.embedding_input.texts) count += count_words(text);
  for (const auto& tokens : request.embedding_input.token_arrays) count += static_cast<std::int64_t>(tokens.size());
  for (const Message& message : request.messages) count += count_words(message.text());
  return count;
}

std::vector<ChatEvent> fake_answer_events(const ChatRequest& request) {
  std::vector<ChatEvent> events;
  std::int64_t completion_tokens = 0;
  for (int choice = 0; choice < request.n; ++choice) {
    const Tool* tool = request.flavor == ApiFlavor::chat ? tool_to_call(request) : nullptr;
    completion_tokens += tool ? append_tool_call_choice(request, *tool, choice, events) : append_text_choice(request, choice, events);
  }
  events.push_back(UsageReport{fake_prompt_tokens(request), completion_tokens, 0});
  events.push_back(StreamDone{});
  return events;
}

FakeProvider::FakeProvider(boost::asio::any_io_executor executor, FakeProviderOptions options)
    : executor_(std::move(executor)), options_(options) {}

std::vector<ModelOffer> FakeProvider::models() const {
  std::vector<ModelOffer> offers;
  for (const char* id : {"echo", "slow", "error", "slow_error", "flaky"}) {
    offers.push_back(ModelOffer{id, id, options_.echo_usd_per_mtok_input, options_.echo_usd_per_mtok_output, 32768, true, true, {}, false});
  }
  for (const char* id : {"embed", "embed_error"}) {
    offers.push_back(ModelOffer{id, id, options_.echo_usd_per_mtok_input, 0, 8192, false, false, {}, false, true});
  }
  return offers;
}

void FakeProvider::chat_stream(std::shared_ptr<const ChatRequest> request, const std::string& model_id,
                               const RequestContext& context, EventSink sink) {
  bool slow = model_id == "slow" || model_id == "slow_error";
  auto stream = std::make_shared<FakeStream>(executor_, plan_events(*request, model_id), std::move(sink), context,
                                             slow ? options_.slow_first_token : std::chrono::milliseconds(0),
                                             slow ? options_.slow_between_tokens : std::chrono::milliseconds(0));
  stream->start();
}

}  // namespace mg
