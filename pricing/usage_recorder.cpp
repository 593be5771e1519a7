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
      spill_path_(options_.spill_path.empty() ? local_file_base(db_path, "") + ".ledger-spill" : options_.spill_path),
      report_lost_(report_lost ? std::move(report_lost) : LostRowReporter(print_lost_row)),
      journal_(options_.journal_dir.empty() ? local_file_base(db_path, "") + ".journal" : options_.journal_dir, options_.journal_segment_bytes) {
  if (sqlite3* sqlite = db_.sqlite_handle()) sqlite3_busy_timeout(sqlite, static_cast<int>(options_.busy_timeout.count()));
  spill_pending_ = true;  // an earlier run may have left one
  merge_spill_file();
  replay_journal();
  if (sqlite3* sqlite = db_.sqlite_handle()) {
    sqlite3_wal_hook(sqlite, &UsageRecorder::on_wal_commit, this);  // in place of SQLite's automatic checkpoints
    checkpointer_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "mg-checkpoint");
      run_checkpoints();
    });
  }
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
    const bool journaled = journal_.append(row);
    queue_.push_back(QueuedRow{std::move(row), journal_.generation()});
    if (queue_.size() >= options_.batch_size) wake_writer_.notify_one();
    if (!journaled) note_journal_failure(lock);
    return;
  }
  // The database has been failing for a while, or a straggler comes after stop(): the row goes to the
  // spill file, merged into the ledger later. Not journaled: the spill file's commit is as durable.
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
  std::vector<JournalSegment> segments;
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    segments = journal_.take_all();  // every row is settled; those reported lost keep their segments
  }
  retire_segments(segments);
}

RecorderHealth UsageRecorder::health() const {
  std::lock_guard lock(mutex_);
  return RecorderHealth{static_cast<std::int64_t>(queue_.size() + in_batch_), rows_written_.load(), rows_spilled_.load(),
                        rows_lost_.load(), checkpoints_.load(), journal_failures_.load(), failing_, last_error_};
}

// Called with mutex_ held.
void UsageRecorder::settle(std::size_t rows) {
  settled_ += rows;
  progress_.notify_all();
}

// Called with mutex_ held. The batch's rows are the oldest unsettled ones (queue order is journal order),
// so the segments before its newest hold settled rows only: handed out to be deleted.
std::vector<JournalSegment> UsageRecorder::settle_batch(std::size_t rows, bool reported_lost) {
  if (reported_lost) journal_.keep_through(batch_generation_);  // replayed at the next start
  in_batch_ = 0;
  settle(rows);
  return journal_.take_settled_before(batch_generation_);
}

// Called with mutex_ held, which it releases to log: once, then every report_interval.
void UsageRecorder::note_journal_failure(std::unique_lock<std::mutex>& lock) {
  const std::int64_t failures = journal_failures_.fetch_add(1) + 1;
  if (failures > 1 && Clock::now() - last_journal_failure_report_ < options_.report_interval) return;
  last_journal_failure_report_ = Clock::now();
  const std::string error = journal_.last_error();
  lock.unlock();
  std::fprintf(stderr,
               "usage recorder: a ledger row could not be journaled (%s); it waits in memory only and is lost should the"
               " process die before it is written (%lld such rows so far)\n",
               error.c_str(), static_cast<long long>(failures));
}

// Nothing waits: every journaled row is settled, and an idle gateway leaves no rows behind on disk.
void UsageRecorder::empty_journal_when_idle() {
  std::vector<JournalSegment> settled;
  {
    std::lock_guard lock(mutex_);
    if (settled_ != recorded_) return;
    settled = journal_.take_all_settled();
  }
  retire_segments(settled);
}

// Rows of processes that died before writing them (the kernel dropped their segments' locks).
void UsageRecorder::replay_journal() {
  try {
    JournalReplay replay = replay_abandoned_segments(db_, journal_.dir());
    if (replay.segments == 0) return;
    rows_written_.fetch_add(replay.rows_added);
    std::fprintf(stderr,
                 "usage recorder: replayed %lld ledger rows from the journal of a crashed run (%zu segments in '%s': %lld rows,"
                 " %lld of them already in the ledger)\n",
                 static_cast<long long>(replay.rows_added), replay.segments, journal_.dir().c_str(),
                 static_cast<long long>(replay.rows_read), static_cast<long long>(replay.rows_read - replay.rows_added));
  } catch (const std::exception& e) {
    if (last_replay_failure_report_ && Clock::now() - *last_replay_failure_report_ < options_.report_interval) return;
    last_replay_failure_report_ = Clock::now();
    std::fprintf(stderr, "usage recorder: the journal of a crashed run in '%s' is not replayed yet (%s); its segments stay, retried every %lld ms\n",
                 journal_.dir().c_str(), e.what(), static_cast<long long>(options_.stats_interval.count()));
  }
}

bool UsageRecorder::write_batch(std::vector<LedgerRecord>& batch) {
  try {
    // A server that dropped the connection during COMMIT may have committed it: the retry adds only the
    // rows the ledger does not hold, so none is written twice.
    if (retrying_batch_) {
      add_missing_ledger_rows(db_, batch);
    } else {
      ledger_.insert(batch, options_.yield_every_rows);
    }
    retrying_batch_ = false;
    return true;
  } catch (const DatabaseError& e) {
    note_failure(e.what(), e.reason(), batch.size());
  } catch (const std::exception& e) {
    note_failure(e.what(), "internal error", batch.size());
  }
  retrying_batch_ = true;
  return false;
}

// Says so at the first failure and then every report_interval, not at every retry. `reason` is what
// /health shows: the log alone names the file.
void UsageRecorder::note_failure(const std::string& error, const std::string& reason, std::size_t rows_in_batch) {
  std::size_t waiting = rows_in_batch;
  {
    std::lock_guard lock(mutex_);
    bool first = !failing_;
    failing_ = true;
    last_error_ = reason;
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

// Called with mutex_ held.
void UsageRecorder::take_batch(std::vector<LedgerRecord>& batch) {
  while (!queue_.empty() && batch.size() < options_.batch_size) {
    batch.push_back(std::move(queue_.front().row));
    batch_generation_ = queue_.front().journal_generation;  // rising along the queue
    queue_.pop_front();
  }
  in_batch_ = batch.size();
}

std::vector<LedgerRecord> UsageRecorder::take_everything_queued() {
  std::lock_guard lock(mutex_);
  std::vector<LedgerRecord> rows;
  rows.reserve(queue_.size());
  for (QueuedRow& queued : queue_) {
    rows.push_back(std::move(queued.row));
    batch_generation_ = queued.journal_generation;
  }
  queue_.clear();
  in_batch_ += rows.size();
  return rows;
}

// Returns true when the rows were reported lost (neither the spill file nor the database took them).
bool UsageRecorder::spill_or_report(const std::vector<LedgerRecord>& rows) {
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
    return false;
  } catch (const std::exception& e) {
    why = std::string("neither the database nor the spill file '") + spill_path_ + "' took it: " + e.what();
    spill_db_.reset();  // opened afresh next time: the fault may pass
  }
  for (const LedgerRecord& row : rows) report_lost_(row, why);
  rows_lost_.fetch_add(static_cast<std::int64_t>(rows.size()));
  return true;
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
        take_batch(batch);
      }
      stopping = stopping_;
      if (stopping && batch.empty() && queue_.empty()) {
        stopped_ = true;  // from here on record() spills: no row enters a queue nobody drains
        break;
      }
    }
    if (batch.empty()) empty_journal_when_idle();
    if (!batch.empty()) {
      bool reported_lost = false;
      if (write_batch(batch)) {
        rows_written_.fetch_add(static_cast<std::int64_t>(batch.size()));
        failing_since.reset();
        backoff = options_.retry_backoff;
        note_success();
        merge_spill_file();
      } else if (stopping && failing_since && Clock::now() - *failing_since > options_.give_up_after_at_stop) {
        std::vector<LedgerRecord> rest = take_everything_queued();
        rest.insert(rest.begin(), std::make_move_iterator(batch.begin()), std::make_move_iterator(batch.end()));
        reported_lost = spill_or_report(rest);
        batch = std::move(rest);  // settled below, all of them
      } else {
        if (!failing_since) failing_since = Clock::now();
        wait_before_retry(backoff);
        backoff = std::min(backoff * 2, options_.retry_backoff_max);
        continue;
      }
      std::vector<JournalSegment> settled;
      {
        std::lock_guard lock(mutex_);
        settled = settle_batch(batch.size(), reported_lost);
      }
      retire_segments(settled);
      batch.clear();
    }
    if (Clock::now() >= next_stats) {
      persist_stats();
      replay_journal();  // a replica on the same database may have died
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
      if (sqlite3_wal_checkpoint_v2(db->sqlite_handle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr) == SQLITE_OK) {
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
