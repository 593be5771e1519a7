#include "tests/support/mock_upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace mg::test {
namespace {

using nlohmann::json;

bool send_all(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
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

MockUpstream::MockUpstream() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
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
  for (auto& thread : threads_) thread.join();
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
    threads_.emplace_back([this, fd] { serve_connection(fd); });
  }
}

// Reads requests (headers, then a Content-Length body) until the peer closes or a behaviour ends the
// connection.
void MockUpstream::serve_connection(int fd) {
  std::string pending;
  char buffer[65536];
  while (!stopping_) {
    std::size_t head_end;
    while ((head_end = pending.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) return (void)::close(fd);
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
      ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) return (void)::close(fd);
      pending.append(buffer, static_cast<std::size_t>(n));
    }
    std::string body = pending.substr(head_end + 4, length);
    pending.erase(0, head_end + 4 + length);
    requests_.fetch_add(1);
    if (!answer(fd, path, authorization, body)) return (void)::close(fd);
  }
  ::close(fd);
}

bool MockUpstream::answer(int fd, const std::string& path, const std::string& authorization, const std::string& body) {
  json request = json::parse(body, nullptr, false);
  {
    std::lock_guard lock(mutex_);
    last_request_ = request;
    last_authorization_ = authorization;
  }
  std::string model = request.is_object() ? request.value("model", "") : "";
  bool stream = request.is_object() && request.value("stream", false);
  if (path != "/v1/chat/completions") return send_all(fd, json_response(404, {{"error", {{"message", "no such path " + path}}}}));
  if (model == "mock-500") return send_all(fd, json_response(500, {{"error", {{"message", "the mock is broken"}}}}));
  if (model == "mock-503-once" && !failed_once_.exchange(true)) {
    return send_all(fd, json_response(503, {{"error", {{"message", "warming up"}}}}));
  }
  if (model == "mock-429") return send_all(fd, json_response(429, {{"error", {{"message", "slow down"}}}}, "Retry-After: 2\r\n"));
  if (model == "mock-text") {
    return send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
  }
  json usage = {{"prompt_tokens", 11}, {"completion_tokens", 4}, {"total_tokens", 15}};
  if (!stream) {
    json answer = {{"id", "mock-1"}, {"object", "chat.completion"}, {"created", 1}, {"model", model},
                   {"choices", json::array({{{"index", 0}, {"message", {{"role", "assistant"}, {"content", "Hi from the mock"}}}, {"finish_reason", "stop"}}})},
                   {"usage", usage}};
    return send_all(fd, json_response(200, answer));
  }
  if (!send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")) return false;
  for (std::size_t i = 0; i < kAnswer.size(); ++i) {
    if (model == "mock-broken" && i == 2) return false;  // close mid-stream, no [DONE]
    json delta = i == 0 ? json{{"role", "assistant"}, {"content", kAnswer[i]}} : json{{"content", kAnswer[i]}};
    if (!send_all(fd, sse(chunk_json(model, delta, nullptr)))) return false;
  }
  std::string tail = sse(chunk_json(model, json::object(), "stop"));
  if (model != "mock-no-usage") {
    json usage_chunk = {{"id", "mock-1"}, {"object", "chat.completion.chunk"}, {"created", 1}, {"model", model}, {"choices", json::array()}, {"usage", usage}};
    tail += sse(usage_chunk);
  }
  tail += chunk("data: [DONE]\n\n") + "0\r\n\r\n";
  return send_all(fd, tail);
}

}  // namespace mg::test
