// Writes the ledger and the live statistics to SQLite on a thread of its own, so the request path only
// pushes a record onto a bounded queue and never waits on the database.
//
// When the database cannot be written (locked by another process, disk full, damaged) rows wait in the
// queue and the writer retries with backoff, saying so on stderr once and then every report_interval.
// Rows that do not fit in the queue, and rows still unwritten when the grace period at stop runs out, go
// to a spill file (a SQLite file beside the database) that is merged back into the ledger as soon as the
// database takes writes again, at the latest at the next start. A row that even the spill file cannot
// take is handed to the lost-row reporter (the gateway logs it in full): no row is ever dropped unsaid.
//
// Each row is also appended to a crash journal (pricing/ledger_journal.h) before it is queued, so that
// the rows in memory survive the process's death (SIGKILL included): a later start, or another replica
// on the same database, replays them into the ledger, each once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "pricing/ledger.h"
#include "pricing/ledger_journal.h"
#include "pricing/live_stats.h"

namespace mg::pricing {

struct RecorderOptions {
  std::size_t queue_capacity = 65'536;  // rows held in memory while the database cannot take them
  std::size_t batch_size = 256;  // rows per commit
  // Within a commit the writer yields its core every so many rows (well under 0.1 ms of work): the
  // scheduler does not preempt it for a woken I/O thread, or the client or upstream that thread waits
  // on, queued on its core, which otherwise waited for the whole commit (1 to 2 ms, the p99 of a lone
  // connection). The writer keeps the process's priority: a lower one let it fall behind, and be
  // preempted holding the queue's lock, when the request path used every core.
  std::size_t yield_every_rows = 16;
  // A WAL checkpoint (the log copied back into the database file, with an fsync) takes milliseconds in
  // one piece. A thread of its own runs them at idle priority (SCHED_IDLE: only on CPU time no other
  // thread wants, preempted by any thread that wakes on its core) once the log holds checkpoint_at_pages;
  // the writer runs one itself only past writer_checkpoints_at_pages, should that thread get no CPU.
  std::size_t checkpoint_at_pages = 1'000;
  std::size_t writer_checkpoints_at_pages = 16'000;
  std::chrono::milliseconds flush_interval{100};
  std::chrono::milliseconds busy_timeout{5'000};  // one attempt's wait for another process's lock
  std::chrono::milliseconds stats_interval{5'000};
  std::chrono::milliseconds retry_backoff{200};  // doubled after each failed attempt, up to retry_backoff_max
  std::chrono::milliseconds retry_backoff_max{5'000};
  std::chrono::milliseconds give_up_after_at_stop{5'000};  // then what is left goes to the spill file
  std::chrono::milliseconds report_interval{30'000};       // how often a failing ledger says so again
  std::string spill_path;  // '' : "<db_path>.ledger-spill"
  std::string journal_dir;  // '' : "<db_path>.journal"
  std::size_t journal_segment_bytes = LedgerJournal::kDefaultSegmentBytes;  // a segment past this size, the next one opens
};

// The writer's state, for /health and /metrics.
struct RecorderHealth {
  std::int64_t pending_rows = 0;  // in memory, not yet written
  std::int64_t rows_written = 0;  // into the ledger, spilled rows merged back included
  std::int64_t rows_spilled = 0;  // ever put in the spill file
  std::int64_t rows_lost = 0;     // handed to the lost-row reporter
  std::int64_t checkpoints = 0;   // WAL checkpoints run at idle priority
  std::int64_t journal_failures = 0;  // rows the crash journal could not take: lost should the process die
  bool failing = false;           // the last write attempt failed
  std::string last_error;         // SQLite's reason for the last failed attempt, without the file's path
};

class UsageRecorder {
 public:
  using LostRowReporter = std::function<void(const LedgerRecord& row, const std::string& why)>;

  // Opens its own connection to `db_path` (throws at start-up if it cannot), merges a spill file left by
  // an earlier run, replays the journal segments of crashed runs, and starts the writer thread. `stats` (optional) is persisted into routes.measured_*
  // every stats_interval. Without a reporter, lost rows are printed on stderr.
  UsageRecorder(const std::string& db_path, const LiveStats* stats, RecorderOptions options = {},
                LostRowReporter report_lost = {});
  ~UsageRecorder();
  UsageRecorder(const UsageRecorder&) = delete;
  UsageRecorder& operator=(const UsageRecorder&) = delete;

  // Never waits on the database; a full queue spills the row instead. Journals the row first: one write().
  void record(LedgerRecord row);
  // Blocks until every row recorded before the call is written, spilled or reported.
  void flush();
  // Flushes, persists the stats a last time, joins the thread and deletes this process's journal
  // segments (all but those holding rows reported lost). Idempotent.
  void stop();

  RecorderHealth health() const;
  std::int64_t rows_written() const { return rows_written_.load(); }
  std::int64_t rows_lost() const { return rows_lost_.load(); }
  const std::string& spill_path() const { return spill_path_; }
  const std::string& journal_dir() const { return journal_.dir(); }

 private:
  struct QueuedRow {
    LedgerRecord row;
    std::uint64_t journal_generation;  // the journal segment that holds it
  };

  void run();
  void take_batch(std::vector<LedgerRecord>& batch);
  bool write_batch(std::vector<LedgerRecord>& batch);
  void note_failure(const std::string& error, const std::string& reason, std::size_t rows_waiting);
  void note_success();
  void settle(std::size_t rows);
  std::vector<JournalSegment> settle_batch(std::size_t rows, bool reported_lost);
  void note_journal_failure(std::unique_lock<std::mutex>& lock);
  void empty_journal_when_idle();
  std::vector<LedgerRecord> take_everything_queued();
  bool spill_or_report(const std::vector<LedgerRecord>& rows);
  void merge_spill_file();
  void replay_journal();
  void persist_stats();
  void wait_before_retry(std::chrono::milliseconds delay);
  static int on_wal_commit(void* recorder, sqlite3* db, const char* schema, int pages);
  void run_checkpoints();
  void stop_checkpoints();

  Database db_;
  LedgerWriter ledger_{db_};
  const LiveStats* stats_;
  RecorderOptions options_;
  std::string spill_path_;
  LostRowReporter report_lost_;

  mutable std::mutex mutex_;
  std::condition_variable wake_writer_;
  std::condition_variable progress_;
  std::deque<QueuedRow> queue_;
  LedgerJournal journal_;                  // appended to under mutex_: journal order is queue order
  std::uint64_t batch_generation_ = 0;     // the newest journal segment of a row in the writer's batch
  std::chrono::steady_clock::time_point last_journal_failure_report_;  // under mutex_
  std::optional<std::chrono::steady_clock::time_point> last_replay_failure_report_;  // writer's thread only
  std::uint64_t recorded_ = 0;  // rows ever handed to record()
  std::uint64_t settled_ = 0;   // rows written, spilled or reported
  std::size_t in_batch_ = 0;    // rows the writer holds outside the queue
  bool stopping_ = false;
  bool stopped_ = false;  // the writer thread has exited
  std::string last_error_;
  bool failing_ = false;
  bool retrying_batch_ = false;  // the writer's batch failed once: its retry must not write a row twice
  std::chrono::steady_clock::time_point last_failure_report_;

  std::mutex spill_mutex_;               // one writer of the spill file at a time
  std::optional<Database> spill_db_;     // opened on first use
  std::atomic<bool> spill_pending_{false};  // the spill file may hold rows to merge back

  std::atomic<std::int64_t> rows_written_{0};
  std::atomic<std::int64_t> rows_spilled_{0};
  std::atomic<std::int64_t> rows_lost_{0};
  std::atomic<std::int64_t> journal_failures_{0};
  std::thread thread_;

  std::mutex checkpoint_mutex_;
  std::condition_variable checkpoint_wanted_;
  bool checkpoint_due_ = false;
  bool checkpoints_stopping_ = false;
  std::atomic<std::int64_t> checkpoints_{0};
  std::thread checkpointer_;
};

// Writes the measured figures into the routes table (they show in `catalogue list` and survive restarts).
void persist_route_figures(Database& db, const std::vector<std::pair<std::string, RouteFigures>>& figures);

}  // namespace mg::pricing
