// A programmable OpenAI-compatible upstream for tests: a real HTTP/1.1 server on a loopback port, written
// with plain sockets and threads so it shares no code with the gateway it tests. The upstream model id
// picks the behaviour:
//   mock-ok        answers "Hi from the mock" (SSE when asked to stream), with usage; after a trailing
//                  assistant message that begins the answer (a resumed stream) it says only the rest
//   mock-no-usage  streams the same answer without a usage chunk
//   mock-finish-then-close
//                  streams the whole answer and its finish_reason, then closes without [DONE]
//   mock-comments  streams the same answer with an SSE comment ": PROCESSING" before each piece
//   mock-slow-<ms> streams the same answer, pausing <ms> before each piece
//   mock-<status>[-retry-after-<s>]
//                  HTTP 429, 500 or 503 with an OpenAI error body, and Retry-After: <s> when given
//   mock-chaos-<p> like mock-ok, but <p>% of requests fail at random: a 500, no answer, a reset or close
//                  at a random point of the stream, or malformed SSE
//   mock-broken    streams two chunks, then closes without [DONE]
//   mock-text      HTTP 200 with Content-Type text/plain
//   mock-503-once  HTTP 503 the first time it is asked, then like mock-ok
//   mock-hang-head reads the request and never answers
//   mock-hang-mid  streams two chunks, then goes silent
//   mock-reset-mid streams two chunks, then resets the connection
//   mock-bad-sse   streams a chunk that is not JSON
//   mock-huge      answers 200 with a 3 MiB JSON body; mock-huge-N with N MiB
//   mock-echo-key  answers (streamed or whole) "Your key is <key> - keep it safe.", <key> being the bearer
//                  token it was sent (a hostile upstream echoing its Authorization header); streamed, the
//                  key is split in two across two content deltas
//   mock-echo-key-whole
//                  the same, the key whole in one content delta
// A test can also script the raw bytes of one answer (reply_raw_to_request), whatever the model.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

struct ssl_ctx_st;

namespace mg::test {

// Certificate and key files (PEM) for an https mock.
struct TlsFiles {
  std::string certificate;
  std::string key;
};

// A throwaway test CA, a server certificate it signs for 127.0.0.1 and localhost, and a "rogue" one
// for the same names that no trusted CA signed; made with the openssl command in `directory`.
struct TestCertificates {
  explicit TestCertificates(const std::string& directory);
  std::string ca_file;
  TlsFiles server;
  TlsFiles rogue;
};

class MockUpstream {
 public:
  // `port` 0 picks a free one.
  explicit MockUpstream(std::optional<TlsFiles> tls = std::nullopt, std::uint16_t port = 0);
  ~MockUpstream();
  MockUpstream(const MockUpstream&) = delete;
  MockUpstream& operator=(const MockUpstream&) = delete;

  std::uint16_t port() const { return port_; }
  std::string base_url() const { return std::string(tls_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  int tls_handshakes_failed() const { return handshakes_failed_.load(); }

  int connections_accepted() const { return connections_.load(); }
  int connections_open() const;
  int requests_served() const { return requests_.load(); }
  nlohmann::json last_request() const;
  std::string last_authorization() const;

  // The `request_number`th request served (from 1, over all connections) is answered with `raw` exactly
  // as given, and then its connection closes: a truncated head, a broken body, anything a failing
  // upstream might send.
  void reply_raw_to_request(int request_number, std::string raw);

 private:
  void accept_loop();
  struct Peer;
  void serve_connection(int fd);
  bool answer(Peer& peer, const std::string& path, const std::string& authorization, const std::string& body);
  bool hang(Peer& peer);
  std::optional<std::string> take_raw_reply(int request_number);

  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> requests_{0};
  std::atomic<bool> failed_once_{false};
  std::atomic<int> handshakes_failed_{0};
  ssl_ctx_st* tls_ = nullptr;
  mutable std::mutex mutex_;
  nlohmann::json last_request_;
  std::string last_authorization_;
  std::map<int, std::string> raw_replies_;  // by request number
  std::vector<int> open_fds_;  // of the connections being served, each by a detached thread
  std::condition_variable connections_done_;
  std::thread acceptor_;
};

}  // namespace mg::test
