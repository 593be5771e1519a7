// A provider that speaks the OpenAI chat completions protocol (or, as its dialect says, Anthropic's
// Messages API) over HTTP to an upstream (vLLM, llama.cpp server, Ollama, OpenRouter, DeepInfra, ...): keep-alive connections from a pool, true pass-through
// streaming (each SSE event becomes ChatEvents as it arrives), timeouts for connect, first byte and
// the gap between chunks, and upstream failures mapped to FailureClass for the router.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>

#include "providers/dialect.h"
#include "providers/provider.h"
#include "providers/upstream_endpoint.h"

namespace mg {

struct UpstreamOptions {
  std::string name;            // the catalogue's provider name
  std::string base_url;        // "http://127.0.0.1:8000/v1"
  std::string api_key;         // sent as the dialect says (a Bearer token by default); never logged or echoed
  Dialect dialect = dialect_presets().front();
  std::string ca_file;             // PEM file of trusted CAs for https; '' for the system store
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds first_byte_timeout{60'000};
  std::chrono::milliseconds idle_timeout{60'000};  // between two chunks of a stream
  std::size_t max_body_bytes = 32 * 1024 * 1024;   // of a non-streamed answer or an error body
  std::size_t max_idle_connections = 256;          // kept open for reuse, across all I/O threads
};

class OpenAiHttpProvider final : public Provider, public std::enable_shared_from_this<OpenAiHttpProvider> {
 public:
  // Fails for a malformed base URL, or trusted certificates that cannot be loaded.
  static Result<std::shared_ptr<OpenAiHttpProvider>> create(boost::asio::any_io_executor executor, UpstreamOptions options);

  const std::string& name() const override { return options_.name; }
  std::vector<ModelOffer> models() const override { return {}; }  // its routes come from the catalogue
  void chat_stream(std::shared_ptr<const ChatRequest> request, const std::string& model_id, const RequestContext& context,
                   EventSink sink) override;

  const UpstreamOptions& options() const { return options_; }
  const BaseUrl& base_url() const { return base_url_; }
  ConnectionPool& pool() { return pool_; }
  boost::asio::any_io_executor executor() const { return executor_; }
  boost::asio::ssl::context* tls_context() { return tls_.get(); }  // nullptr for plain http

  // The JSON body sent upstream for `request` on `model_id`, in the dialect's wire API; an error when that
  // API cannot express the request.
  Result<std::string> request_body(const ChatRequest& request, const std::string& model_id) const;

 private:
  OpenAiHttpProvider(boost::asio::any_io_executor executor, UpstreamOptions options, BaseUrl base_url,
                     std::unique_ptr<boost::asio::ssl::context> tls)
      : executor_(std::move(executor)), options_(std::move(options)), base_url_(std::move(base_url)), tls_(std::move(tls)),
        pool_(options_.max_idle_connections) {}

  boost::asio::any_io_executor executor_;
  UpstreamOptions options_;
  BaseUrl base_url_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  ConnectionPool pool_;
};

// An upstream's HTTP status as the router sees it.
Error upstream_status_error(const std::string& provider, unsigned status, const std::string& body, int retry_after_s);

}  // namespace mg
