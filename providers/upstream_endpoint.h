// Where an upstream lives and how to reach it: its base URL taken apart, and a pool of idle keep-alive
// connections to it with a short-lived DNS cache.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "core/result.h"
#include "providers/upstream_stream.h"

namespace mg {

struct BaseUrl {
  std::string scheme;  // "http" or "https"
  std::string host;
  std::uint16_t port = 0;
  std::string path_prefix;  // "/v1", "/api/v1", "" ...; never ends with '/'

  std::string host_header() const;
};

// "https://api.example.com/v1/" into its parts; an error names what is wrong.
Result<BaseUrl> parse_base_url(const std::string& url);

// Idle keep-alive connections to one host, handed out most recently used first.
class ConnectionPool {
 public:
  explicit ConnectionPool(std::size_t max_idle = 256) : max_idle_(max_idle) {}

  // The most recently used idle connection registered with `context` (an io_context: a socket works
  // only on the thread that runs its own).
  std::optional<UpstreamStream> take(const boost::asio::execution_context& context);
  void put_back(UpstreamStream stream);
  // Closes every idle connection; they must not outlive the io_context they are registered with.
  void clear();

  // Cached resolver results, valid for `ttl`.
  std::optional<boost::asio::ip::tcp::resolver::results_type> cached_endpoints() const;
  void cache_endpoints(boost::asio::ip::tcp::resolver::results_type endpoints, std::chrono::seconds ttl);

 private:
  mutable std::mutex mutex_;
  std::deque<UpstreamStream> idle_;  // oldest first
  std::size_t max_idle_;
  std::optional<boost::asio::ip::tcp::resolver::results_type> endpoints_;
  std::chrono::steady_clock::time_point endpoints_expire_;
};

}  // namespace mg
