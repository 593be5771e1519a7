// A deterministic in-process provider for tests: no network, fixed answers, injectable failures.
//   echo   answers "You said: <last user text>" (or the prompt); calls a tool when tools are offered
//   slow   like echo, but waits before the first token and between tokens
//   error  fails before the first token (transient, as a 502 from an upstream would)
//   slow_error  waits like slow, then fails before the first token
//   flaky  sends two tokens, then fails mid-stream
//   embed  (an embedding model) one vector per input: [its words, its characters or tokens, its index, 1]
//   embed_error  (an embedding model) fails, as `error` does
#pragma once

#include <chrono>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "providers/provider.h"

namespace mg {

struct FakeProviderOptions {
  std::chrono::milliseconds slow_first_token{1500};
  std::chrono::milliseconds slow_between_tokens{50};
  double echo_usd_per_mtok_input = 1.0;
  double echo_usd_per_mtok_output = 2.0;
};

class FakeProvider final : public Provider {
 public:
  FakeProvider(boost::asio::any_io_executor executor, FakeProviderOptions options);

  const std::string& name() const override { return name_; }
  std::vector<ModelOffer> models() const override;
  void chat_stream(std::shared_ptr<const ChatRequest> request, const std::string& model_id,
                   const RequestContext& context, EventSink sink) override;

 private:
  std::string name_ = "fake";
  boost::asio::any_io_executor executor_;
  FakeProviderOptions options_;
};

// The events the fake answers `request` with, before pacing (exposed for tests).
std::vector<ChatEvent> fake_answer_events(const ChatRequest& request);

// Whitespace-separated words in the request's messages or prompt: the fake's deterministic token count.
std::int64_t fake_prompt_tokens(const ChatRequest& request);

}  // namespace mg
