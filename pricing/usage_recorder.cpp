#include "pricing/usage_recorder.h"

#include <pthread.h>

#include <algorithm>
#include <cstdio>
#include <iterator>

#include <sqlite3.h>

namespace mg::pricing {

namespace {

using Clock = std::chrono::steady_clock;

void print_lost_row(const LedgerRecord& row, const std::string& why) {
  std::fprintf(stderr,
               "usage recorder: ledger row not saved (%s): request_id=%s created_at_ms=%lld key=%s model=%s route=%s"
               " prompt_tokens=%lld completion_tokens=%lld cost_usd=%.10g status=%d\n",
               why.c_str(), row.request_id.c_str(), static_cast<long long>(row.created_at_ms), row.api_key_id.c_str(),
               row.requested_model.c_str(), row.route.c_str(), static_cast<long long>(row.prompt_tokens),
               static_cast<long long>(row.completion_tokens), row.cost_usd, row.status);
}

}  // namespace

UsageRecorder::UsageRecorder(const std::string& db_path, const LiveStats* stats, RecorderOptions options, LostRowReporter report_lost)
    : db_(Database::open(db_path)), stats_(stats), options_(std::move(options)),
      spill_path_(options_.spill_path.empty() ? db_path + ".ledger-spill" : options_.spill_path),
      report_lost_(report_lost ? std::move(report_lost) : LostRowReporter(print_lost_row)) {
  sqlite3_busy_timeout(db_.handle(), static_cast<int>(options_.busy_timeout.count()));
  spill_pending_ = true;  // an earlier run may have left one
  merge_spill_file();
  sqlite3_wal_hook(db_.handle(), &UsageRecorder::on_wal_commit, this);  // in place of SQLite's automatic checkpoints
  checkpointer_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "mg-checkpoint");
    run_checkpoints();
  });
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "mg-ledger");
    run();
  });
}

UsageRecorder::~UsageRecorder() { stop(); }

void UsageRecorder::record(LedgerRecord row) {
  std::unique_lock lock(mutex_);
  ++recorded_;
  if (!stopped_ && queue_.size() < options_.queue_capacity) {
    queue_.push_back(std::move(row));
    if (queue_.size() >= options_.batch_size) wake_writer_.notify_one();
    return;
  }
  // The database has been failing for a while, or a straggler comes after stop(): the row goes to the
  // spill file, merged into the ledger later.
  lock.unlock();
  spill_or_report({std::move(row)});
  lock.lock();
  settle(1);
}

void UsageRecorder::flush() {
  std::unique_lock lock(mutex_);
  std::uint64_t target = recorded_;
  wake_writer_.notify_one();
  progress_.wait(lock, [&] { return settled_ >= target; });
}

void UsageRecorder::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_writer_.notify_one();
  progress_.notify_all();
  if (thread_.joinable()) thread_.join();
  stop_checkpoints();
  std::lock_guard lock(mutex_);
  stopped_ = true;
}

RecorderHealth UsageRecorder::health() const {
  std::lock_guard lock(mutex_);
  return RecorderHealth{static_cast<std::int64_t>(queue_.size() + in_batch_), rows_written_.load(), rows_spilled_.load(),
                        rows_lost_.load(), checkpoints_.load(), failing_, last_error_};
}

// Called with mutex_ held.
void UsageRecorder::settle(std::size_t rows) {
  settled_ += rows;
  progress_.notify_all();
}

bool UsageRecorder::write_batch(std::vector<LedgerRecord>& batch) {
  try {
    ledger_.insert(batch, options_.yield_every_rows);
    return true;
  } catch (const std::exception& e) {
    note_failure(e.what(), batch.size());
    return false;
  }
}

// Says so at the first failure and then every report_interval, not at every retry.
void UsageRecorder::note_failure(const std::string& error, std::size_t rows_in_batch) {
  std::size_t waiting = rows_in_batch;
  {
    std::lock_guard lock(mutex_);
    bool first = !failing_;
    failing_ = true;
    last_error_ = error;
    waiting += queue_.size();
    if (!first && Clock::now() - last_failure_report_ < options_.report_interval) return;
    last_failure_report_ = Clock::now();
  }
  std::fprintf(stderr,
               "usage recorder: the ledger cannot be written (%s); %zu rows wait in memory (up to %zu, then in '%s'); retrying\n",
               error.c_str(), waiting, options_.queue_capacity, spill_path_.c_str());
}

void UsageRecorder::note_success() {
  bool recovered;
  {
    std::lock_guard lock(mutex_);
    recovered = failing_;
    failing_ = false;
  }
  if (recovered) std::fprintf(stderr, "usage recorder: the ledger is writable again\n");
}

std::vector<LedgerRecord> UsageRecorder::take_everything_queued() {
  std::lock_guard lock(mutex_);
  std::vector<LedgerRecord> rows(std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end()));
  queue_.clear();
  in_batch_ += rows.size();
  return rows;
}

void UsageRecorder::spill_or_report(const std::vector<LedgerRecord>& rows) {
  std::lock_guard lock(spill_mutex_);
  std::string why;
  try {
    if (!spill_db_) {
      spill_db_.emplace(Database::open(spill_path_));
      std::fprintf(stderr, "usage recorder: ledger rows go to the spill file '%s' until the database takes them\n", spill_path_.c_str());
    }
    insert_ledger_rows(*spill_db_, rows);
    rows_spilled_.fetch_add(static_cast<std::int64_t>(rows.size()));
    spill_pending_ = true;
    return;
  } catch (const std::exception& e) {
    why = std::string("neither the database nor the spill file '") + spill_path_ + "' took it: " + e.what();
    spill_db_.reset();  // opened afresh next time: the fault may pass
  }
  for (const LedgerRecord& row : rows) report_lost_(row, why);
  rows_lost_.fetch_add(static_cast<std::int64_t>(rows.size()));
}

void UsageRecorder::merge_spill_file() {
  if (!spill_pending_.exchange(false)) return;
  std::lock_guard lock(spill_mutex_);
  spill_db_.reset();  // the file is deleted once merged
  try {
    std::int64_t merged = merge_ledger_spill(db_, spill_path_);
    rows_written_.fetch_add(merged);
    if (merged > 0) std::fprintf(stderr, "usage recorder: merged %lld spilled rows from '%s' into the ledger\n", static_cast<long long>(merged), spill_path_.c_str());
  } catch (const std::exception& e) {
    spill_pending_ = true;
    std::fprintf(stderr, "usage recorder: the spill file '%s' is not merged yet (%s); its rows stay there\n", spill_path_.c_str(), e.what());
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

// While stopping, retries come fast: the grace period is short and every row must end somewhere.
void UsageRecorder::wait_before_retry(std::chrono::milliseconds delay) {
  std::unique_lock lock(mutex_);
  if (stopping_) delay = std::min(delay, options_.retry_backoff);
  wake_writer_.wait_for(lock, delay, [this, stopping = stopping_] { return stopping_ != stopping; });
}

void UsageRecorder::run() {
  auto next_stats = Clock::now() + options_.stats_interval;
  auto backoff = options_.retry_backoff;
  std::optional<Clock::time_point> failing_since;
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
        in_batch_ = batch.size();
      }
      stopping = stopping_;
      if (stopping && batch.empty() && queue_.empty()) break;
    }
    if (!batch.empty()) {
      if (write_batch(batch)) {
        rows_written_.fetch_add(static_cast<std::int64_t>(batch.size()));
        failing_since.reset();
        backoff = options_.retry_backoff;
        note_success();
        merge_spill_file();
      } else if (stopping && failing_since && Clock::now() - *failing_since > options_.give_up_after_at_stop) {
        std::vector<LedgerRecord> rest = take_everything_queued();
        rest.insert(rest.begin(), std::make_move_iterator(batch.begin()), std::make_move_iterator(batch.end()));
        spill_or_report(rest);
        batch = std::move(rest);  // settled below, all of them
      } else {
        if (!failing_since) failing_since = Clock::now();
        wait_before_retry(backoff);
        backoff = std::min(backoff * 2, options_.retry_backoff_max);
        continue;
      }
      std::lock_guard lock(mutex_);
      in_batch_ = 0;
      settle(batch.size());
      batch.clear();
    }
    if (Clock::now() >= next_stats) {
      persist_stats();
      next_stats = Clock::now() + options_.stats_interval;
    }
  }
  persist_stats();
}

// Called by SQLite on the writer's thread after each commit, with the pages the log now holds.
int UsageRecorder::on_wal_commit(void* recorder, sqlite3* db, const char* schema, int pages) {
  auto* self = static_cast<UsageRecorder*>(recorder);
  auto log_pages = static_cast<std::size_t>(pages);
  if (log_pages >= self->options_.writer_checkpoints_at_pages) {
    sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  } else if (log_pages >= self->options_.checkpoint_at_pages) {
    std::lock_guard lock(self->checkpoint_mutex_);
    self->checkpoint_due_ = true;
    self->checkpoint_wanted_.notify_one();
  }
  return SQLITE_OK;
}

void UsageRecorder::run_checkpoints() {
  sched_param idle{};
  pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle);  // for good: this thread never needs more
  std::optional<Database> db;
  while (true) {
    {
      std::unique_lock lock(checkpoint_mutex_);
      checkpoint_wanted_.wait(lock, [this] { return checkpoint_due_ || checkpoints_stopping_; });
      if (checkpoints_stopping_) return;
      checkpoint_due_ = false;
    }
    try {
      if (!db) db.emplace(Database::open(db_.path()));
      // Passive: copies what no reader still needs, waits on nobody, and leaves the writer free to commit.
      if (sqlite3_wal_checkpoint_v2(db->handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr) == SQLITE_OK) {
        checkpoints_.fetch_add(1);
      }
    } catch (const std::exception&) {
      db.reset();  // the database is failing; the writer says so, and its own checkpoints stay the fallback
    }
  }
}

void UsageRecorder::stop_checkpoints() {
  {
    std::lock_guard lock(checkpoint_mutex_);
    checkpoints_stopping_ = true;
  }
  checkpoint_wanted_.notify_one();
  if (checkpointer_.joinable()) checkpointer_.join();
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
