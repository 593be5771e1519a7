// A deliberately independent HTTP/1.x client for tests: raw POSIX sockets and its own response parser, so
// that what the server sends is checked byte for byte, not through Beast.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mg::test {

struct RawResponse {
  int status = 0;
  std::string version;                        // "HTTP/1.1"
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;                            // de-chunked
  bool chunked = false;

  std::string header(const std::string& name) const;
};

class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port);
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool send(const std::string& bytes);
  // Reads one response; nullopt on timeout or when the connection closes before a complete response.
  std::optional<RawResponse> read_response(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Reads raw bytes until `needle` appears (inclusive) or timeout; returns what was read.
  std::string read_until(const std::string& needle, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // True when the server closed the connection within `timeout` (EOF or reset).
  bool wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  void close_abruptly();  // RST instead of FIN
  void shutdown_write();
  bool connected() const { return fd_ >= 0; }

 private:
  bool fill(std::chrono::steady_clock::time_point deadline);  // reads more into pending_
  std::optional<std::string> take_line(std::chrono::steady_clock::time_point deadline);
  std::optional<std::string> take_bytes(std::size_t count, std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::string pending_;
  bool eof_ = false;
};

// Sends one request on a fresh connection and reads the response.
std::optional<RawResponse> http_request(std::uint16_t port, const std::string& method, const std::string& path,
                                        const std::string& body = {},
                                        const std::vector<std::pair<std::string, std::string>>& headers = {{"Content-Type", "application/json"}});

std::string build_request(const std::string& method, const std::string& path, const std::string& body,
                          const std::vector<std::pair<std::string, std::string>>& headers = {{"Content-Type", "application/json"}},
                          const std::string& version = "HTTP/1.1");

// The `data:` payloads of an SSE body, in order ("[DONE]" included); comment lines are skipped.
std::vector<std::string> sse_data_lines(const std::string& body);

}  // namespace mg::test
