// One client connection: reads HTTP/1.1 requests one at a time (bounded pipelining), enforces the
// header, body and idle limits, hands each request to the Api, and writes the answer (a whole body or an
// SSE stream) through one bounded write queue. Everything runs on the connection's I/O thread, whose
// io_context no other thread runs: an implicit strand.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "gateway/api.h"
#include "gateway/gateway_state.h"
#include "gateway/http_exchange.h"
#include "gateway/server_config.h"
#include "core/deadline.h"

namespace mg::gateway {

class SessionRegistry;

class HttpSession final : public ResponseChannel, public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(boost::asio::ip::tcp::socket socket, const ServerConfig& config, Api& api, GatewayState& state,
              SessionRegistry& registry);
  ~HttpSession() override;

  // Starts serving; with `overloaded`, answers 503 at once and closes.
  void run(bool overloaded = false);
  // Closes the connection if it is between requests; otherwise lets the current answer finish first.
  void close_when_idle();
  // Cancels the request in flight, if any; its answer then ends as the exchange decides.
  void cancel_request_from_any_thread();
  // Closes now, cancelling any request in flight.
  void close_now_from_any_thread();

  // ResponseChannel
  void send_reply(HttpReply reply) override;
  void start_stream(HttpReply head) override;
  void write_stream(std::string bytes) override;
  void end_stream() override;
  bool stream_started() const override { return stream_started_; }
  std::optional<Error> hold_parsed_bytes(std::size_t bytes) override;
  const CancellationToken& cancellation() const override { return cancellation_; }
  boost::asio::any_io_executor executor() const override;

 private:
  enum class Phase { idle, reading_header, reading_body, answering, closing };

  void set_phase(Phase next);
  void wait_for_request();
  void read_from_client();
  void on_client_bytes(boost::beast::error_code ec);
  void on_bytes_while_answering(boost::beast::error_code ec);
  void take_back_client_read();
  using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;
  void read_header();
  boost::beast::error_code parse_buffered(bool (RequestParser::*enough)() const);
  void on_header(boost::beast::error_code ec);
  void first_request_begun();
  Milliseconds first_request_wait_while_draining() const;
  std::optional<Error> reserve_capacity();
  void release_body_reservation();
  void read_body();
  void on_body(boost::beast::error_code ec);
  void on_read_failed(boost::beast::error_code ec);
  void dispatch_request();
  void watch_for_disconnect();
  void fail_request(const Error& error);

  void arm_read_deadline(Milliseconds timeout);
  void disarm_read_deadline();
  void skip_empty_lines();
  void on_client_gone();

  std::string serialize_head(const HttpReply& reply, std::optional<std::size_t> content_length);
  void enqueue(std::string bytes, bool ends_response);
  void write_next();
  std::vector<boost::asio::const_buffer> queued_buffers() const;
  bool write_at_once();
  void drop_written(std::size_t written);
  void finish_response();
  void linger_then_close();
  void discard_until_closed();
  void close_now();

  boost::asio::ip::tcp::socket socket_;
  boost::asio::any_io_executor executor_;  // the connection's io_context (an implicit strand)
  const ServerConfig& config_;
  Api& api_;
  GatewayState& state_;
  SessionRegistry& registry_;

  boost::beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  Deadline read_deadline_;
  Deadline write_deadline_;
  bool read_timed_out_ = false;
  // One read of the client at a time, into buffer_: the wait for the next request, the disconnect watch
  // while answering (it also keeps pipelined bytes), or the discard before closing. While it is in flight
  // nothing else may touch buffer_.
  bool client_read_pending_ = false;
  bool resume_after_cancel_ = false;  // the read was cancelled to parse pipelined bytes already here
  Phase phase_ = Phase::idle;

  // The request being answered.
  std::string request_id_;
  unsigned http_version_ = 11;
  bool keep_alive_ = false;
  bool head_only_ = false;
  bool request_in_flight_ = false;
  bool awaiting_first_request_ = true;  // counted in GatewayState::connections_awaiting_first_request
  bool first_request_deadline_shortened_ = false;
  std::size_t body_reservation_ = 0;  // of GatewayState::buffered_body_bytes, from the headers to the answer's end
  bool answered_ = false;
  bool stream_started_ = false;
  bool peer_half_closed_ = false;
  CancellationToken cancellation_;

  std::deque<std::string> write_queue_;
  std::size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool flush_deferred_ = false;  // a WriteBatch will start the next write
  bool response_queued_ = false;  // the answer's last bytes are in the queue
  bool closed_ = false;
};

}  // namespace mg::gateway
