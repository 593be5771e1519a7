// Process-wide live counters and the draining flag, shared by the listener, sessions and handlers.
#pragma once

#include <atomic>
#include <cstdint>

namespace mg::gateway {

struct GatewayState {
  std::atomic<bool> draining{false};
  std::atomic<std::int64_t> open_connections{0};
  std::atomic<std::int64_t> connections_awaiting_first_request{0};  // accepted, no request begun yet
  std::atomic<std::int64_t> requests_being_read{0};  // first byte arrived, not yet fully read
  std::atomic<std::int64_t> requests_in_flight{0};   // read, not yet fully answered
  std::atomic<std::int64_t> active_generations{0};   // chat exchanges whose provider work is still alive
  std::atomic<std::int64_t> requests_total{0};
  std::atomic<std::int64_t> cancelled_total{0};      // generations stopped because the client left
  std::atomic<std::int64_t> rejected_connections{0}; // over max_connections
  std::atomic<std::int64_t> shed_requests{0};        // answered 503 at once: over max_requests_in_flight or the body budget
  std::atomic<std::int64_t> buffered_body_bytes{0};  // reserved by requests from their headers to their answer's end
};

}  // namespace mg::gateway
