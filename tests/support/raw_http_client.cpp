#include "tests/support/raw_http_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace mg::test {

using Clock = std::chrono::steady_clock;

// Every error a client of the suite's gateways saw (a status >= 400, or an error inside a stream), kept
// in the suite's log folder for its last test: none may name an environment variable, a config key, a
// path, an upstream's address or a secret (tests/support/client_errors_reveal_nothing.py).
void keep_if_error(const RawResponse& response) {
  bool in_band_error = response.header("content-type").starts_with("text/event-stream") && response.body.find("\"error\"") != std::string::npos;
  if (response.status < 400 && !in_band_error) return;
  const char* dir = std::getenv("MODELGATE_TEST_LOG_DIR");
  if (!dir || !*dir) return;
  std::string path = std::string(dir) + "/client-errors-" + std::to_string(::getpid()) + ".txt";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return;
  std::string record = std::to_string(response.status) + " " + response.body + "\n";
  [[maybe_unused]] ssize_t written = ::write(fd, record.data(), record.size());  // one write: records never interleave
  ::close(fd);
}

std::string RawResponse::header(const std::string& name) const {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  auto it = headers.find(lower);
  return it == headers.end() ? std::string() : it->second;
}

RawConnection::RawConnection(std::uint16_t port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::send(const std::string& bytes) {
  std::size_t sent = 0;
  while (fd_ >= 0 && sent < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return fd_ >= 0;
}

bool RawConnection::fill(Clock::time_point deadline) {
  if (fd_ < 0 || eof_) return false;
  auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (remaining <= 0) return false;
  pollfd poller{fd_, POLLIN, 0};
  if (::poll(&poller, 1, static_cast<int>(remaining)) <= 0) return false;
  char buffer[65536];
  ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
  if (n <= 0) {
    eof_ = true;
    return false;
  }
  pending_.append(buffer, static_cast<std::size_t>(n));
  return true;
}

std::optional<std::string> RawConnection::take_line(Clock::time_point deadline) {
  std::size_t end;
  while ((end = pending_.find("\r\n")) == std::string::npos) {
    if (!fill(deadline)) return std::nullopt;
  }
  std::string line = pending_.substr(0, end);
  pending_.erase(0, end + 2);
  return line;
}

std::optional<std::string> RawConnection::take_bytes(std::size_t count, Clock::time_point deadline) {
  while (pending_.size() < count) {
    if (!fill(deadline)) return std::nullopt;
  }
  std::string bytes = pending_.substr(0, count);
  pending_.erase(0, count);
  return bytes;
}

std::optional<RawResponse> RawConnection::read_response(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  RawResponse response;
  auto status_line = take_line(deadline);
  if (!status_line) return std::nullopt;
  response.version = status_line->substr(0, status_line->find(' '));
  response.status = std::atoi(status_line->c_str() + std::min(status_line->size(), response.version.size() + 1));
  while (true) {
    auto line = take_line(deadline);
    if (!line) return std::nullopt;
    if (line->empty()) break;
    auto colon = line->find(':');
    std::string name = line->substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string value = colon == std::string::npos ? "" : line->substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    response.headers[name] = value;
  }
  if (response.status == 100) return read_response(timeout);  // interim response
  if (response.header("transfer-encoding") == "chunked") {
    response.chunked = true;
    while (true) {
      auto size_line = take_line(deadline);
      if (!size_line) return std::nullopt;
      std::size_t size = std::stoul(*size_line, nullptr, 16);
      auto data = take_bytes(size + 2, deadline);
      if (!data) return std::nullopt;
      if (size == 0) break;
      response.body += data->substr(0, size);
    }
  } else if (!response.header("content-length").empty()) {
    auto body = take_bytes(std::stoul(response.header("content-length")), deadline);
    if (!body) return std::nullopt;
    response.body = *body;
  } else {
    while (fill(deadline)) {
    }
    if (!eof_) return std::nullopt;  // a close-delimited body must end with the connection
    response.body = std::move(pending_);
    pending_.clear();
  }
  keep_if_error(response);
  return response;
}

std::string RawConnection::read_until(const std::string& needle, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (pending_.find(needle) == std::string::npos) {
    if (!fill(deadline)) break;
  }
  std::size_t end = pending_.find(needle);
  end = end == std::string::npos ? pending_.size() : end + needle.size();
  std::string out = pending_.substr(0, end);
  pending_.erase(0, end);
  return out;
}

bool RawConnection::wait_closed(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!eof_ && Clock::now() < deadline) {
    fill(deadline);
  }
  return eof_;
}

void RawConnection::close_abruptly() {
  if (fd_ < 0) return;
  linger option{1, 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &option, sizeof option);
  ::close(fd_);
  fd_ = -1;
}

void RawConnection::shutdown_write() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

std::string build_request(const std::string& method, const std::string& path, const std::string& body,
                          const std::vector<std::pair<std::string, std::string>>& headers, const std::string& version) {
  std::string request = method + " " + path + " " + version + "\r\nHost: 127.0.0.1\r\n";
  for (const auto& [name, value] : headers) request += name + ": " + value + "\r\n";
  if (!body.empty() || method == "POST") request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return request + "\r\n" + body;
}

std::optional<RawResponse> http_request(std::uint16_t port, const std::string& method, const std::string& path,
                                        const std::string& body, const std::vector<std::pair<std::string, std::string>>& headers) {
  RawConnection connection(port);
  if (!connection.send(build_request(method, path, body, headers))) return std::nullopt;
  return connection.read_response();
}

std::vector<std::string> sse_data_lines(const std::string& body) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < body.size()) {
    std::size_t end = body.find('\n', start);
    if (end == std::string::npos) end = body.size();
    std::string line = body.substr(start, end - start);
    if (line.rfind("data: ", 0) == 0) out.push_back(line.substr(6));
    start = end + 1;
  }
  return out;
}

}  // namespace mg::test
