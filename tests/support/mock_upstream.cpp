#include "tests/support/mock_upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>

namespace mg::test {
namespace {

using nlohmann::json;

void run_openssl(const std::string& arguments) {
  std::string command = "openssl " + arguments + " >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) throw std::runtime_error("failed: " + command);
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::string chunk(const std::string& data) {
  char size[16];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + data + "\r\n";
}

std::string sse(const json& value) { return chunk("data: " + value.dump() + "\n\n"); }

json chunk_json(const std::string& model, const json& delta, const json& finish) {
  return {{"id", "mock-1"}, {"object", "chat.completion.chunk"}, {"created", 1}, {"model", model},
          {"choices", json::array({{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}})}};
}

const std::vector<std::string> kAnswer = {"Hi ", "from ", "the ", "mock"};

std::string json_response(int status, const json& body, const std::string& extra_headers = "") {
  std::string text = body.dump();
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n" + extra_headers +
         "Content-Length: " + std::to_string(text.size()) + "\r\n\r\n" + text;
}

}  // namespace

TestCertificates::TestCertificates(const std::string& directory) {
  const std::string d = directory + "/";
  const std::string ec_key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2";
  run_openssl("req -x509 " + ec_key + " -keyout " + d + "ca.key -out " + d + "ca.pem -subj /CN=modelgate-test-ca");
  run_openssl("req " + ec_key + " -keyout " + d + "server.key -out " + d + "server.csr -subj /CN=localhost");
  {
    FILE* extensions = std::fopen((d + "san.cnf").c_str(), "w");
    std::fputs("subjectAltName=IP:127.0.0.1,DNS:localhost\n", extensions);
    std::fclose(extensions);
  }
  run_openssl("x509 -req -in " + d + "server.csr -CA " + d + "ca.pem -CAkey " + d + "ca.key -CAcreateserial -days 2 -out " + d +
              "server.pem -extfile " + d + "san.cnf");
  run_openssl("req -x509 " + ec_key + " -keyout " + d + "rogue.key -out " + d + "rogue.pem -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost");
  ca_file = d + "ca.pem";
  server = {d + "server.pem", d + "server.key"};
  rogue = {d + "rogue.pem", d + "rogue.key"};
}

// One accepted connection, plain or TLS.
struct MockUpstream::Peer {
  int fd;
  SSL* ssl = nullptr;

  ssize_t read(char* buffer, std::size_t size) {
    if (!ssl) return ::recv(fd, buffer, size, 0);
    int n = SSL_read(ssl, buffer, static_cast<int>(size));
    return n > 0 ? n : -1;
  }
  bool write(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = ssl ? SSL_write(ssl, bytes.data() + sent, static_cast<int>(bytes.size() - sent))
                      : ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<std::size_t>(n);
    }
    return true;
  }
};

MockUpstream::MockUpstream(std::optional<TlsFiles> tls, std::uint16_t port) {
  if (tls) {
    tls_ = SSL_CTX_new(TLS_server_method());
    if (SSL_CTX_use_certificate_chain_file(tls_, tls->certificate.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(tls_, tls->key.c_str(), SSL_FILETYPE_PEM) != 1) {
      throw std::runtime_error("mock upstream: cannot load " + tls->certificate);
    }
  }
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("mock upstream: cannot listen on port " + std::to_string(port));
  }
  ::listen(listen_fd_, 128);
  socklen_t length = sizeof address;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
  port_ = ntohs(address.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

MockUpstream::~MockUpstream() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  acceptor_.join();
  {
    std::lock_guard lock(mutex_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  std::unique_lock lock(mutex_);
  connections_done_.wait(lock, [this] { return open_fds_.empty(); });
  if (tls_) SSL_CTX_free(tls_);
}

int MockUpstream::connections_open() const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(open_fds_.size());
}

json MockUpstream::last_request() const {
  std::lock_guard lock(mutex_);
  return last_request_;
}

std::string MockUpstream::last_authorization() const {
  std::lock_guard lock(mutex_);
  return last_authorization_;
}

void MockUpstream::accept_loop() {
  while (!stopping_) {
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    connections_.fetch_add(1);
    std::lock_guard lock(mutex_);
    open_fds_.push_back(fd);
    // Detached, so a long soak's thousands of finished connections hold nothing; the destructor waits
    // for the live ones through open_fds_.
    std::thread([this, fd] { serve_connection(fd); }).detach();
  }
}

// Reads requests (headers, then a Content-Length body) until the peer closes or a behaviour ends the
// connection.
void MockUpstream::serve_connection(int fd) {
  Peer peer{fd};
  struct Closer {
    MockUpstream& mock;
    Peer& peer;
    ~Closer() {
      if (peer.ssl) SSL_free(peer.ssl);
      // Closed under the lock, so the fd number cannot be reused before it leaves open_fds_; after the
      // unlock this thread touches the mock no more.
      std::lock_guard lock(mock.mutex_);
      ::close(peer.fd);
      mock.open_fds_.erase(std::find(mock.open_fds_.begin(), mock.open_fds_.end(), peer.fd));
      mock.connections_done_.notify_all();
    }
  } closer{*this, peer};
  if (tls_) {
    peer.ssl = SSL_new(tls_);
    SSL_set_fd(peer.ssl, fd);
    if (SSL_accept(peer.ssl) != 1) {
      handshakes_failed_.fetch_add(1);
      return;
    }
  }
  std::string pending;
  char buffer[65536];
  while (!stopping_) {
    std::size_t head_end;
    while ((head_end = pending.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = peer.read(buffer, sizeof buffer);
      if (n <= 0) return;
      pending.append(buffer, static_cast<std::size_t>(n));
    }
    std::string head = pending.substr(0, head_end);
    std::string lowered = lower(head);
    std::size_t length = 0;
    if (auto at = lowered.find("content-length:"); at != std::string::npos) length = std::stoul(head.substr(at + 15));
    std::string authorization;
    if (auto at = lowered.find("authorization:"); at != std::string::npos) {
      authorization = head.substr(at + 14, head.find("\r\n", at) - at - 14);
      authorization.erase(0, authorization.find_first_not_of(' '));
    }
    std::string path = head.substr(head.find(' ') + 1);
    path = path.substr(0, path.find(' '));
    while (pending.size() < head_end + 4 + length) {
      ssize_t n = peer.read(buffer, sizeof buffer);
      if (n <= 0) return;
      pending.append(buffer, static_cast<std::size_t>(n));
    }
    std::string body = pending.substr(head_end + 4, length);
    pending.erase(0, head_end + 4 + length);
    if (auto raw = take_raw_reply(requests_.fetch_add(1) + 1)) return (void)peer.write(*raw);
    if (!answer(peer, path, authorization, body)) return;
  }
}

void MockUpstream::reply_raw_to_request(int request_number, std::string raw) {
  std::lock_guard lock(mutex_);
  raw_replies_[request_number] = std::move(raw);
}

std::optional<std::string> MockUpstream::take_raw_reply(int request_number) {
  std::lock_guard lock(mutex_);
  auto scripted = raw_replies_.find(request_number);
  if (scripted == raw_replies_.end()) return std::nullopt;
  std::string raw = std::move(scripted->second);
  raw_replies_.erase(scripted);
  return raw;
}

// Says nothing more until the peer gives up (closes) or the mock stops; then ends the connection.
bool MockUpstream::hang(Peer& peer) {
  while (!stopping_) {
    pollfd poller{peer.fd, POLLIN, 0};
    if (::poll(&poller, 1, 50) > 0) {
      char byte;
      if (::recv(peer.fd, &byte, 1, MSG_PEEK) <= 0) break;
    }
  }
  return false;
}

namespace {

// "mock-<status>[-retry-after-<s>]" for 429, 500 and 503: that status, with Retry-After when given.
std::optional<std::string> status_answer(const std::string& model) {
  int status = 0;
  int retry_after = -1;
  char tail = 0;
  int fields = std::sscanf(model.c_str(), "mock-%d-retry-after-%d%c", &status, &retry_after, &tail);
  bool plain = fields == 1 && model == "mock-" + std::to_string(status);
  if (!(plain || fields == 2) || (status != 429 && status != 500 && status != 503)) return std::nullopt;
  std::string headers = retry_after >= 0 ? "Retry-After: " + std::to_string(retry_after) + "\r\n" : "";
  return json_response(status, {{"error", {{"message", status == 429 ? "slow down" : "the mock is broken"}}}}, headers);
}

// The pieces of the answer still to say: all of it, or after a trailing assistant message (a resumed
// stream's prefix) the rest of it, when the prefix is how it begins.
std::vector<std::string> pieces_to_say(const json& request) {
  const json& messages = request.value("messages", json::array());
  if (messages.empty() || messages.back().value("role", "") != "assistant") return kAnswer;
  std::string prefix = messages.back().value("content", "");
  std::vector<std::string> rest;
  std::string said;
  for (const std::string& piece : kAnswer) {
    if (said.size() >= prefix.size()) rest.push_back(piece);
    said += piece;
  }
  return said.starts_with(prefix) ? rest : kAnswer;
}

// "mock-echo-key[-whole]": the answer quotes the bearer token the request came with, split in two pieces
// or whole in one.
std::optional<std::vector<std::string>> echoed_key_pieces(const std::string& model, const std::string& authorization) {
  if (model != "mock-echo-key" && model != "mock-echo-key-whole") return std::nullopt;
  std::string key = authorization.starts_with("Bearer ") ? authorization.substr(7) : authorization;
  if (model == "mock-echo-key-whole") return std::vector<std::string>{"Your key is ", key, " - keep it safe."};
  return std::vector<std::string>{"Your key is ", key.substr(0, key.size() / 2), key.substr(key.size() / 2), " - keep it safe."};
}

// How a "mock-chaos-<percent>" request fails, if it does: chosen at random, as often as asked.
enum class Chaos { none, status_500, hang_head, reset_mid, close_mid, bad_sse };

Chaos roll_chaos(const std::string& model) {
  int percent = 0;
  if (std::sscanf(model.c_str(), "mock-chaos-%d", &percent) != 1) return Chaos::none;
  thread_local std::mt19937 random{std::random_device{}()};
  if (std::uniform_int_distribution<int>(0, 99)(random) >= percent) return Chaos::none;
  return static_cast<Chaos>(std::uniform_int_distribution<int>(1, 5)(random));
}

}  // namespace

bool MockUpstream::answer(Peer& peer, const std::string& path, const std::string& authorization, const std::string& body) {
  json request = json::parse(body, nullptr, false);
  {
    std::lock_guard lock(mutex_);
    last_request_ = request;
    last_authorization_ = authorization;
  }
  std::string model = request.is_object() ? request.value("model", "") : "";
  bool stream = request.is_object() && request.value("stream", false);
  if (path != "/v1/chat/completions") return peer.write(json_response(404, {{"error", {{"message", "no such path " + path}}}}));
  if (auto answer = status_answer(model)) return peer.write(*answer);
  if (model == "mock-503-once" && !failed_once_.exchange(true)) {
    return peer.write(json_response(503, {{"error", {{"message", "warming up"}}}}));
  }
  std::vector<std::string> pieces = request.is_object() ? pieces_to_say(request) : kAnswer;
  if (auto echoed = echoed_key_pieces(model, authorization)) pieces = std::move(*echoed);
  Chaos chaos = roll_chaos(model);
  if (chaos == Chaos::status_500) return peer.write(json_response(500, {{"error", {{"message", "chaos"}}}}));
  if (model == "mock-hang-head" || chaos == Chaos::hang_head) return hang(peer);
  if (model.starts_with("mock-huge")) {
    std::size_t mib = model == "mock-huge" ? 3 : std::stoul(model.substr(10));
    json answer = {{"choices", json::array({{{"index", 0}, {"message", {{"role", "assistant"}, {"content", std::string(mib << 20, 'x')}}}}})}};
    return peer.write(json_response(200, answer));
  }
  if (model == "mock-text") {
    return peer.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
  }
  json usage = {{"prompt_tokens", 11}, {"completion_tokens", static_cast<int>(pieces.size())}, {"total_tokens", 11 + static_cast<int>(pieces.size())}};
  std::string text;
  for (const std::string& piece : pieces) text += piece;
  if (!stream) {
    json answer = {{"id", "mock-1"}, {"object", "chat.completion"}, {"created", 1}, {"model", model},
                   {"choices", json::array({{{"index", 0}, {"message", {{"role", "assistant"}, {"content", text}}}, {"finish_reason", "stop"}}})},
                   {"usage", usage}};
    return peer.write(json_response(200, answer));
  }
  if (!peer.write("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")) return false;
  if (model == "mock-bad-sse" || chaos == Chaos::bad_sse) return peer.write(chunk("data: {this is not json\n\n"));
  int pause_ms = 0;
  std::sscanf(model.c_str(), "mock-slow-%d", &pause_ms);
  // Where a mid-stream fault strikes: after two pieces for the named models, anywhere for chaos.
  thread_local std::mt19937 random{std::random_device{}()};
  std::size_t break_at = chaos == Chaos::none ? 2 : std::uniform_int_distribution<std::size_t>(0, pieces.size())(random);
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    if (i == break_at && (model == "mock-broken" || chaos == Chaos::close_mid)) return false;  // close mid-stream, no [DONE]
    if (model == "mock-hang-mid" && i == 2) return hang(peer);
    if (i == break_at && (model == "mock-reset-mid" || chaos == Chaos::reset_mid)) {
      linger reset{1, 0};
      ::setsockopt(peer.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
      return false;
    }
    if (pause_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
    if (model == "mock-comments" && !peer.write(chunk(": PROCESSING\n\n"))) return false;
    json delta = i == 0 ? json{{"role", "assistant"}, {"content", pieces[i]}} : json{{"content", pieces[i]}};
    if (!peer.write(sse(chunk_json(model, delta, nullptr)))) return false;
  }
  std::string tail = sse(chunk_json(model, json::object(), "stop"));
  if (model == "mock-finish-then-close") {  // finished, but no usage and no [DONE]
    peer.write(tail);
    return false;
  }
  if (model != "mock-no-usage") {
    json usage_chunk = {{"id", "mock-1"}, {"object", "chat.completion.chunk"}, {"created", 1}, {"model", model}, {"choices", json::array()}, {"usage", usage}};
    tail += sse(usage_chunk);
  }
  tail += chunk("data: [DONE]\n\n") + "0\r\n\r\n";
  return peer.write(tail);
}

}  // namespace mg::test
