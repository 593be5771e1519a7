// A connection to an upstream, plain TCP or TLS over TCP, behind one type so the call code and the
// connection pool do not care which. Operations are written once as generic lambdas and visited.
#pragma once

#include <variant>

#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace mg {

class UpstreamStream {
 public:
  using Plain = boost::beast::tcp_stream;
  using Tls = boost::beast::ssl_stream<boost::beast::tcp_stream>;

  explicit UpstreamStream(Plain plain) : stream_(std::move(plain)) {}
  explicit UpstreamStream(Tls tls) : stream_(std::move(tls)) {}

  boost::beast::tcp_stream& tcp() {
    return std::visit([](auto& stream) -> boost::beast::tcp_stream& { return boost::beast::get_lowest_layer(stream); }, stream_);
  }
  Tls* tls() { return std::get_if<Tls>(&stream_); }
  Plain* plain() { return std::get_if<Plain>(&stream_); }

  template <class Operation>
  void visit(Operation&& operation) {
    std::visit(std::forward<Operation>(operation), stream_);
  }

 private:
  std::variant<Plain, Tls> stream_;
};

}  // namespace mg
