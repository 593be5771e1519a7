#include "pricing/usage_recorder.h"

#include <pthread.h>

#include <cstdio>

namespace mg::pricing {

UsageRecorder::UsageRecorder(const std::string& db_path, const LiveStats* stats, RecorderOptions options)
    : db_(Database::open(db_path)), stats_(stats), options_(options), thread_([this] {
        pthread_setname_np(pthread_self(), "mg-ledger");
        run();
      }) {}

UsageRecorder::~UsageRecorder() { stop(); }

void UsageRecorder::record(LedgerRecord row) {
  std::unique_lock lock(mutex_);
  if (stopped_) {  // a straggler after stop(): write it here rather than lose it
    std::vector<LedgerRecord> late{std::move(row)};
    bool written = write_batch(late);
    (written ? rows_written_ : rows_lost_).fetch_add(1);
    return;
  }
  space_or_progress_.wait(lock, [this] { return queue_.size() < options_.queue_capacity || stopping_; });
  queue_.push_back(std::move(row));
  ++recorded_;
  if (queue_.size() >= options_.batch_size) wake_writer_.notify_one();
}

void UsageRecorder::flush() {
  std::unique_lock lock(mutex_);
  std::uint64_t target = recorded_;
  wake_writer_.notify_one();
  space_or_progress_.wait(lock, [&] { return settled_ >= target; });
}

void UsageRecorder::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_writer_.notify_one();
  space_or_progress_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mutex_);
  stopped_ = true;
}

bool UsageRecorder::write_batch(std::vector<LedgerRecord>& batch) {
  try {
    insert_ledger_rows(db_, batch);
    return true;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "usage recorder: %zu ledger rows not written yet (%s); retrying\n", batch.size(), e.what());
    return false;
  }
}

void UsageRecorder::persist_stats() {
  if (!stats_) return;
  try {
    persist_route_figures(db_, stats_->snapshot_all());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "usage recorder: route statistics not saved (%s)\n", e.what());
  }
}

void UsageRecorder::run() {
  auto next_stats = std::chrono::steady_clock::now() + options_.stats_interval;
  std::optional<std::chrono::steady_clock::time_point> failing_since;
  std::vector<LedgerRecord> batch;
  while (true) {
    bool stopping;
    {
      std::unique_lock lock(mutex_);
      if (batch.empty()) {
        wake_writer_.wait_for(lock, options_.flush_interval, [this] { return stopping_ || queue_.size() >= options_.batch_size; });
        while (!queue_.empty() && batch.size() < options_.batch_size) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        space_or_progress_.notify_all();
      }
      stopping = stopping_;
      if (stopping && batch.empty() && queue_.empty()) break;
    }
    if (!batch.empty()) {
      bool written = write_batch(batch);
      bool give_up = !written && stopping && failing_since &&
                     std::chrono::steady_clock::now() - *failing_since > options_.give_up_after_at_stop;
      if (written || give_up) {
        (written ? rows_written_ : rows_lost_).fetch_add(static_cast<std::int64_t>(batch.size()));
        if (give_up) std::fprintf(stderr, "usage recorder: gave up on %zu ledger rows at shutdown\n", batch.size());
        std::lock_guard lock(mutex_);
        settled_ += batch.size();
        batch.clear();
        failing_since.reset();
        space_or_progress_.notify_all();
      } else {
        if (!failing_since) failing_since = std::chrono::steady_clock::now();
        std::this_thread::sleep_for(options_.retry_backoff);
      }
    }
    if (std::chrono::steady_clock::now() >= next_stats) {
      persist_stats();
      next_stats = std::chrono::steady_clock::now() + options_.stats_interval;
    }
  }
  persist_stats();
}

void persist_route_figures(Database& db, const std::vector<std::pair<std::string, RouteFigures>>& figures) {
  Transaction transaction(db);
  Statement update = db.prepare(
      "UPDATE routes SET measured_ttft_ms = ?3, measured_throughput_tok_s = ?4, measured_success_rate = ?5, measured_samples = ?6"
      " WHERE provider = ?1 AND model_id = ?2");
  for (const auto& [route, figure] : figures) {
    auto slash = route.find('/');
    if (slash == std::string::npos) continue;
    update.bind(1, route.substr(0, slash)).bind(2, route.substr(slash + 1)).bind(3, figure.ttft_ms).bind(4, figure.throughput_tok_s)
        .bind(5, figure.success_rate).bind(6, figure.samples);
    update.run();
  }
  transaction.commit();
}

}  // namespace mg::pricing
