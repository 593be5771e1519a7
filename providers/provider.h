// The Provider interface: one upstream (or the local engine) that can answer chat requests as a stream of
// ChatEvents. Small on purpose; extra capabilities get interfaces of their own.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>

#include "core/cancellation.h"
#include "core/chat_event.h"
#include "core/chat_request.h"
#include "core/completion.h"

namespace mg {

// What a provider offers for one model: the route's identity, price and limits.
struct ModelOffer {
  std::string model_id;           // the id clients ask for
  std::string upstream_model_id;  // the id the provider knows it by
  double usd_per_mtok_input = 0;
  double usd_per_mtok_output = 0;
  int context_length = 0;
  bool supports_tools = false;
  bool supports_json = false;
  std::string description;    // shown with the route in /v1/models; '' for none
  bool last_resort = false;  // the local engine: after every other route of a chain, whatever the policy
  bool embedding = false;    // an embedding model: it serves embedding requests only, and chat never
};

// True when `executor` is an io_context's and this thread runs it. Each I/O thread runs an io_context of
// its own, so code on a session's thread is then on that session's strand.
inline bool running_in_this_thread(const boost::asio::any_io_executor& executor) {
  auto* io = executor.target<boost::asio::io_context::executor_type>();
  return io && io->running_in_this_thread();
}

struct RequestContext {
  std::string request_id;
  // Where the caller lives: a strand (it must serialise), such as a session's. A provider that does I/O
  // does it there, so one request stays on one thread and its events need no hand-over. Unset: the
  // provider's own executor.
  boost::asio::any_io_executor executor;
  CancellationToken cancellation;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

// Receives a request's events in order, never concurrently, from any thread. Exactly one terminal event
// (StreamDone or StreamFailed) ends the sequence.
using EventSink = std::function<void(ChatEvent)>;

class Provider {
 public:
  virtual ~Provider() = default;

  virtual const std::string& name() const = 0;
  virtual std::vector<ModelOffer> models() const = 0;

  // Starts answering `request` for the offer `model_id`; returns at once, events follow on `sink`.
  virtual void chat_stream(std::shared_ptr<const ChatRequest> request, const std::string& model_id,
                           const RequestContext& context, EventSink sink) = 0;

  // The whole answer at once: chat_stream() gathered by a CompletionAccumulator.
  void chat(std::shared_ptr<const ChatRequest> request, const std::string& model_id, const RequestContext& context,
            std::function<void(Result<Completion>)> on_complete);
};

// A capability some providers add: the exact prompt token count of a request, from the model's own
// tokenizer and chat template (what its usage will report).
class TokenCounter {
 public:
  virtual ~TokenCounter() = default;
  virtual Result<std::int64_t> count_prompt_tokens(const ChatRequest& request) const = 0;
};

}  // namespace mg
