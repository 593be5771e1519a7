// The upstream of the whole-gateway load benchmark (bench/load/run.sh): wrk, modelgate and Portkey all
// reach this one process on a fixed loopback port. It must cost far less CPU per request than either
// gateway, since all of them share the machine's cores, so it answers from canned bytes: an epoll loop
// per thread (SO_REUSEPORT spreads the connections), keep-alive, pipelining, no parsing beyond the
// request's framing.
//
// The canned answers are the tests' own: at start-up it asks tests/support's MockUpstream (model
// "mock-ok") once for a whole answer and once for a stream, with tests/support's raw client, and replays
// those bodies. A request whose body holds "stream":true gets the stream; every other POST to
// /v1/chat/completions the whole answer, whatever its model; any other path a 404. A stream goes out as
// the test mock writes it: the head, each content delta in its own send, then the finish, usage and
// [DONE] events and the end of the chunked body together.
//
//   build/release/bench/mg_bench_load_mock [--port 18181] [--threads 2]
//   build/release/bench/mg_bench_load_mock --check      serve on a free port, check both answers once, exit
//
// Prints "listening on PORT" once it accepts, and runs until SIGTERM or SIGINT.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "tests/support/mock_upstream.h"
#include "tests/support/raw_http_client.h"

namespace {

constexpr std::size_t kMaxHeadBytes = 64 * 1024;
constexpr std::size_t kMaxBodyBytes = 1024 * 1024;
constexpr int kMaxEvents = 256;

const std::string kChatBody = R"({"model":"mock-ok","messages":[{"role":"user","content":"measure me"}]})";
const std::string kStreamBody =
    R"({"model":"mock-ok","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"measure me"}]})";

// What to send for each kind of request, as the list of separate sends.
struct CannedAnswers {
  std::vector<std::string> whole;
  std::vector<std::string> stream;
  std::vector<std::string> not_found;
  std::string whole_body;   // for --check
  std::string stream_body;  // de-chunked
};

std::string chunked(const std::string& data) {
  char size[16];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + data + "\r\n";
}

std::string json_head(std::size_t length, int status = 200) {
  return "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Not Found") +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n";
}

// Asks the tests' mock for both answers and cuts them into sends.
CannedAnswers canned_answers() {
  mg::test::MockUpstream reference;
  auto whole = mg::test::http_request(reference.port(), "POST", "/v1/chat/completions", kChatBody);
  auto stream = mg::test::http_request(reference.port(), "POST", "/v1/chat/completions", kStreamBody);
  if (!whole || whole->status != 200 || !stream || stream->status != 200 || !stream->chunked) {
    throw std::runtime_error("the tests' mock upstream did not answer both requests with 200");
  }
  CannedAnswers answers;
  answers.whole_body = whole->body;
  answers.stream_body = stream->body;
  answers.whole = {json_head(whole->body.size()) + whole->body};
  answers.stream = {"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"};
  std::string closing;
  for (std::size_t at = 0; at < stream->body.size();) {
    std::size_t end = stream->body.find("\n\n", at);
    end = end == std::string::npos ? stream->body.size() : end + 2;
    std::string event = stream->body.substr(at, end - at);
    if (event.find("\"content\":") != std::string::npos && closing.empty()) {
      answers.stream.push_back(chunked(event));
    } else {
      closing += chunked(event);
    }
    at = end;
  }
  answers.stream.push_back(closing + "0\r\n\r\n");
  std::string missing = R"({"error":{"message":"no such path","type":"invalid_request_error"}})";
  answers.not_found = {json_head(missing.size(), 404) + missing};
  return answers;
}

int listen_on(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(fd, 1024) != 0) {
    int error = errno;
    ::close(fd);
    throw std::runtime_error("cannot listen on 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(error));
  }
  return fd;
}

std::uint16_t port_of(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  return ntohs(address.sin_port);
}

// Case-insensitive search of `needle` (lower case) in `text`.
std::size_t find_lower(const std::string& text, std::size_t from, std::size_t to, const std::string& needle) {
  auto it = std::search(text.begin() + static_cast<long>(from), text.begin() + static_cast<long>(to), needle.begin(), needle.end(),
                        [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
  return it == text.begin() + static_cast<long>(to) ? std::string::npos : static_cast<std::size_t>(it - text.begin());
}

struct Connection {
  std::string in;
  std::string out;  // what the socket did not take yet
};

// One epoll loop on its own SO_REUSEPORT listener.
class Worker {
 public:
  Worker(const CannedAnswers& answers, int listen_fd, const std::atomic<bool>& stopping)
      : answers_(answers), listen_fd_(listen_fd), stopping_(stopping), epoll_fd_(::epoll_create1(0)) {
    epoll_event event{EPOLLIN, {.fd = listen_fd_}};
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &event);
  }
  ~Worker() {
    for (auto& [fd, connection] : connections_) ::close(fd);
    ::close(epoll_fd_);
    ::close(listen_fd_);
  }

  void run() {
    epoll_event events[kMaxEvents];
    while (!stopping_.load(std::memory_order_relaxed)) {
      int n = ::epoll_wait(epoll_fd_, events, kMaxEvents, 200);
      for (int i = 0; i < n; ++i) {
        int fd = events[i].data.fd;
        if (fd == listen_fd_) {
          accept_all();
          continue;
        }
        auto it = connections_.find(fd);
        if (it == connections_.end()) continue;
        bool keep = true;
        if (events[i].events & EPOLLOUT) keep = flush(fd, it->second);
        if (keep && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) keep = serve(fd, it->second);
        if (!keep) close_connection(fd);
      }
    }
  }

  std::uint64_t requests() const { return requests_.load(std::memory_order_relaxed); }

 private:
  void accept_all() {
    for (;;) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK);
      if (fd < 0) return;
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      epoll_event event{EPOLLIN, {.fd = fd}};
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event);
      connections_.emplace(fd, Connection{});
    }
  }

  void close_connection(int fd) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    connections_.erase(fd);
  }

  // Reads what is there and answers every complete request in it; false: close the connection.
  bool serve(int fd, Connection& connection) {
    char buffer[16384];
    for (;;) {
      ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n > 0) {
        connection.in.append(buffer, static_cast<std::size_t>(n));
        if (static_cast<std::size_t>(n) < sizeof buffer) break;
        continue;
      }
      if (n == 0) return false;
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return false;
    }
    for (;;) {
      std::size_t head_end = connection.in.find("\r\n\r\n");
      if (head_end == std::string::npos) return connection.in.size() <= kMaxHeadBytes;
      std::size_t length = 0;
      if (std::size_t at = find_lower(connection.in, 0, head_end, "content-length:"); at != std::string::npos) {
        length = std::strtoul(connection.in.c_str() + at + 15, nullptr, 10);
      }
      if (length > kMaxBodyBytes) return false;
      std::size_t body_at = head_end + 4;
      if (connection.in.size() < body_at + length) return true;  // the rest of the body is on its way
      std::size_t path_at = connection.in.find(' ') + 1;
      bool chat = connection.in.compare(path_at, 21, "/v1/chat/completions ") == 0;
      bool stream = chat && (connection.in.find("\"stream\":true", body_at) < body_at + length ||
                             connection.in.find("\"stream\": true", body_at) < body_at + length);
      connection.in.erase(0, body_at + length);
      requests_.fetch_add(1, std::memory_order_relaxed);
      const auto& sends = !chat ? answers_.not_found : stream ? answers_.stream : answers_.whole;
      for (const std::string& bytes : sends) {
        if (!send_or_queue(fd, connection, bytes)) return false;
      }
    }
  }

  bool send_or_queue(int fd, Connection& connection, const std::string& bytes) {
    if (!connection.out.empty()) {
      connection.out += bytes;
      return true;
    }
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        connection.out.assign(bytes, sent);
        epoll_event event{EPOLLIN | EPOLLOUT, {.fd = fd}};
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event);
        return true;
      } else {
        return false;
      }
    }
    return true;
  }

  bool flush(int fd, Connection& connection) {
    std::string pending;
    pending.swap(connection.out);
    epoll_event event{EPOLLIN, {.fd = fd}};
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event);
    return send_or_queue(fd, connection, pending);
  }

  const CannedAnswers& answers_;
  int listen_fd_;
  const std::atomic<bool>& stopping_;
  int epoll_fd_;
  std::unordered_map<int, Connection> connections_;
  std::atomic<std::uint64_t> requests_{0};
};

// One keep-alive connection: a whole answer, a stream, then both pipelined; each must be the test
// mock's body.
bool check(std::uint16_t port, const CannedAnswers& answers) {
  mg::test::RawConnection connection(port);
  std::string whole = mg::test::build_request("POST", "/v1/chat/completions", kChatBody);
  std::string stream = mg::test::build_request("POST", "/v1/chat/completions", kStreamBody);
  if (!connection.send(whole + stream + whole)) return false;
  for (const std::string* expected : {&answers.whole_body, &answers.stream_body, &answers.whole_body}) {
    auto response = connection.read_response();
    if (!response || response->status != 200 || response->body != *expected) {
      std::fprintf(stderr, "check: got %s\n", response ? response->body.c_str() : "no answer");
      return false;
    }
  }
  auto missing = mg::test::http_request(port, "POST", "/v1/nothing", kChatBody);
  return missing && missing->status == 404;
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  int threads = 2;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--port" && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else if (flag == "--threads" && i + 1 < argc) {
      threads = std::max(1, std::atoi(argv[++i]));
    } else if (flag == "--check") {
      check_only = true;
    } else {
      std::fprintf(stderr, "usage: %s [--port PORT] [--threads N] [--check]\n", argv[0]);
      return 2;
    }
  }
  // Blocked before any thread starts, so the threads inherit the mask and only sigwait sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  try {
    const CannedAnswers answers = canned_answers();
    std::atomic<bool> stopping{false};
    std::vector<std::unique_ptr<Worker>> workers;
    int first = listen_on(static_cast<std::uint16_t>(port));
    std::uint16_t bound = port_of(first);
    workers.push_back(std::make_unique<Worker>(answers, first, stopping));
    for (int i = 1; i < threads; ++i) workers.push_back(std::make_unique<Worker>(answers, listen_on(bound), stopping));
    std::vector<std::thread> running;
    for (auto& worker : workers) running.emplace_back([&worker] { worker->run(); });
    int status = 0;
    if (check_only) {
      bool ok = check(bound, answers);
      std::printf("check: %s\n", ok ? "whole answer, stream, pipelining and 404 as the tests' mock" : "FAILED");
      status = ok ? 0 : 1;
    } else {
      std::printf("listening on %u\n", bound);
      std::fflush(stdout);
      int received = 0;
      sigwait(&stop_signals, &received);
    }
    stopping = true;
    for (auto& thread : running) thread.join();
    std::uint64_t served = 0;
    for (auto& worker : workers) served += worker->requests();
    if (!check_only) std::printf("stopping after %llu requests\n", static_cast<unsigned long long>(served));
    return status;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "load mock upstream: %s\n", error.what());
    return 1;
  }
}
