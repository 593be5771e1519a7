// A connection to an upstream, plain TCP or TLS over TCP, behind one type so the call code and the
// connection pool do not care which. Operations are written once as generic lambdas and visited.
// The stream lives on the heap: a Beast stream's move allocates a new implementation (timers included),
// and a pooled connection moves several times per request (into the pool, out of it, into the call).
#pragma once

#include <memory>
#include <variant>

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace mg {

class UpstreamStream {
 public:
  using Plain = boost::beast::tcp_stream;
  using Tls = boost::beast::ssl_stream<boost::beast::tcp_stream>;

  explicit UpstreamStream(Plain plain) : stream_(std::make_unique<Variant>(std::move(plain))) {}
  explicit UpstreamStream(Tls tls) : stream_(std::make_unique<Variant>(std::move(tls))) {}

  boost::beast::tcp_stream& tcp() {
    return std::visit([](auto& stream) -> boost::beast::tcp_stream& { return boost::beast::get_lowest_layer(stream); }, *stream_);
  }
  Tls* tls() { return std::get_if<Tls>(stream_.get()); }
  Plain* plain() { return std::get_if<Plain>(stream_.get()); }

  template <class Operation>
  void visit(Operation&& operation) {
    std::visit(std::forward<Operation>(operation), *stream_);
  }

 private:
  using Variant = std::variant<Plain, Tls>;
  std::unique_ptr<Variant> stream_;
};

}  // namespace mg
