#include "gateway/access_log.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "gateway/exchange_accounting.h"
#include "gateway/http_exchange.h"

namespace mg::gateway {
namespace {

constexpr std::size_t kWakeBatch = 512;  // lines that wake the writer before its interval is up

std::string iso_utc_ms(std::int64_t unix_ms) {
  std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[40];
  std::size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + length, sizeof text - length, ".%03dZ", static_cast<int>(unix_ms % 1000));
  return text;
}

}  // namespace

std::string access_log_line(const pricing::LedgerRecord& row, const RequestFacts& facts, std::int64_t logged_at_ms) {
  nlohmann::json attempts = nlohmann::json::array();
  for (const auto& [route, outcome] : facts.attempts) attempts.push_back({{"route", route}, {"outcome", outcome}});
  nlohmann::json line = {{"ts", iso_utc_ms(logged_at_ms)},
                         {"event", "request"},
                         {"request_id", row.request_id},
                         {"key_id", row.api_key_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(row.api_key_id)},
                         {"model", row.requested_model},
                         {"route", row.route.empty() ? nlohmann::json(nullptr) : nlohmann::json(row.route)},
                         {"status", row.status},
                         {"error_code", row.error_code.empty() ? nlohmann::json(nullptr) : nlohmann::json(row.error_code)},
                         {"stream", row.stream},
                         {"prompt_tokens", row.prompt_tokens},
                         {"completion_tokens", row.completion_tokens},
                         {"cost_usd", row.cost_usd},
                         {"ttft_ms", row.ttft_ms ? nlohmann::json(*row.ttft_ms) : nlohmann::json(nullptr)},
                         {"duration_ms", row.duration_ms},
                         {"gateway_added_ms", facts.gateway_added_ms ? nlohmann::json(*facts.gateway_added_ms) : nlohmann::json(nullptr)},
                         {"retries", facts.retries},
                         {"fallbacks", facts.fallbacks},
                         {"attempts", std::move(attempts)}};
  return to_json_text(line);
}

AccessLog::AccessLog(const std::string& destination, std::size_t queue_capacity, std::chrono::milliseconds flush_interval)
    : file_(destination == "stderr" ? stderr : std::fopen(destination.c_str(), "a")), owns_file_(destination != "stderr"),
      capacity_(queue_capacity), flush_interval_(flush_interval) {
  if (!file_) throw std::runtime_error("cannot open the access log '" + destination + "': " + std::strerror(errno));
  thread_ = std::thread([this] { run(); });
}

AccessLog::~AccessLog() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
  if (owns_file_) std::fclose(file_);
}

void AccessLog::record(const pricing::LedgerRecord& row, const RequestFacts& facts) {
  Entry entry{row, facts, unix_now_ms()};
  bool batch_waiting = false;
  {
    std::lock_guard lock(mutex_);
    if (entries_.size() >= capacity_) {
      ++dropped_;
      return;
    }
    entries_.push_back(std::move(entry));
    batch_waiting = entries_.size() == kWakeBatch;
  }
  if (batch_waiting) wake_.notify_one();
}

std::uint64_t AccessLog::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

void AccessLog::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait_for(lock, flush_interval_, [this] { return stopping_ || entries_.size() >= kWakeBatch; });
    std::deque<Entry> batch;
    batch.swap(entries_);
    bool last = stopping_;
    lock.unlock();
    if (!batch.empty()) {
      std::string text;
      for (const Entry& entry : batch) text.append(access_log_line(entry.row, entry.facts, entry.logged_at_ms)).push_back('\n');
      std::fwrite(text.data(), 1, text.size(), file_);
      std::fflush(file_);
    }
    lock.lock();
    if (last && entries_.empty()) return;
  }
}

}  // namespace mg::gateway
