#include "providers/upstream_endpoint.h"

#include <charconv>

namespace mg {

std::string BaseUrl::host_header() const {
  bool default_port = (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
  return default_port ? host : host + ":" + std::to_string(port);
}

Result<BaseUrl> parse_base_url(const std::string& url) {
  auto invalid = [&](const std::string& why) { return Error::invalid_request("base URL '" + url + "' " + why, "base_url"); };
  BaseUrl out;
  auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return invalid("has no scheme (http:// or https://)");
  out.scheme = url.substr(0, scheme_end);
  if (out.scheme != "http" && out.scheme != "https") return invalid("must start with http:// or https://");
  std::string rest = url.substr(scheme_end + 3);
  auto path_start = rest.find('/');
  std::string authority = rest.substr(0, path_start);
  out.path_prefix = path_start == std::string::npos ? "" : rest.substr(path_start);
  while (!out.path_prefix.empty() && out.path_prefix.back() == '/') out.path_prefix.pop_back();
  out.port = out.scheme == "https" ? 443 : 80;
  auto colon = authority.rfind(':');
  auto bracket = authority.find(']');
  bool has_port = colon != std::string::npos && (bracket == std::string::npos ? authority.find(':') == colon : colon > bracket);
  if (has_port) {
    std::string port_text = authority.substr(colon + 1);
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535) return invalid("has a bad port");
    out.port = static_cast<std::uint16_t>(port);
    authority = authority.substr(0, colon);
  }
  if (authority.size() >= 2 && authority.front() == '[' && authority.back() == ']') authority = authority.substr(1, authority.size() - 2);
  if (authority.empty()) return invalid("has no host");
  out.host = authority;
  return out;
}

std::optional<UpstreamStream> ConnectionPool::take(const boost::asio::execution_context& context) {
  std::lock_guard lock(mutex_);
  for (auto it = idle_.rbegin(); it != idle_.rend(); ++it) {
    if (&boost::asio::query(it->tcp().get_executor(), boost::asio::execution::context) != &context) continue;
    UpstreamStream stream = std::move(*it);
    idle_.erase(std::next(it).base());
    return stream;
  }
  return std::nullopt;
}

void ConnectionPool::put_back(UpstreamStream stream) {
  std::lock_guard lock(mutex_);
  if (max_idle_ == 0) return;
  // Full: the oldest goes, so a burst on one thread cannot keep the others' connections out for good.
  if (idle_.size() >= max_idle_) idle_.pop_front();
  idle_.push_back(std::move(stream));
}

void ConnectionPool::clear() {
  std::lock_guard lock(mutex_);
  idle_.clear();
}

std::optional<boost::asio::ip::tcp::resolver::results_type> ConnectionPool::cached_endpoints() const {
  std::lock_guard lock(mutex_);
  if (!endpoints_ || std::chrono::steady_clock::now() >= endpoints_expire_) return std::nullopt;
  return endpoints_;
}

void ConnectionPool::cache_endpoints(boost::asio::ip::tcp::resolver::results_type endpoints, std::chrono::seconds ttl) {
  std::lock_guard lock(mutex_);
  endpoints_ = std::move(endpoints);
  endpoints_expire_ = std::chrono::steady_clock::now() + ttl;
}

}  // namespace mg
