// The ledger writer against a database it cannot write: rows wait, spill and merge back, or are reported
// in full; none is dropped unsaid. The lock is held by a real second process (the sqlite3 shell).
#include <sched.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "pricing/usage_recorder.h"
#include "tests/pricing/ledger_test_rows.h"
#include "tests/support/sqlite_lock_holder.h"
#include "tests/support/test_gateway.h"

namespace mg::test {
namespace {

using namespace std::chrono_literals;
using pricing::LedgerRecord;
using pricing::RecorderOptions;
using pricing::UsageRecorder;

class UsageRecorderTest : public ::testing::Test {
 protected:
  void SetUp() override { pricing::Database::open(db_path_); }  // the schema, before anyone locks it

  TempDir dir_;
  std::string db_path_ = (dir_.path() / "ledger.db").string();
};

TEST_F(UsageRecorderTest, RowsWaitWhileAnotherProcessHoldsTheLockAndAreWrittenAfter) {
  UsageRecorder recorder(db_path_, nullptr, quick_options());
  SqliteLockHolder lock(db_path_);
  ASSERT_TRUE(lock.locked()) << "the sqlite3 shell could not take the lock";
  for (int i = 0; i < 5; ++i) recorder.record(row(i));

  ASSERT_TRUE(eventually([&] { return recorder.health().failing; }));
  pricing::RecorderHealth health = recorder.health();
  EXPECT_EQ(health.pending_rows, 5);
  EXPECT_NE(health.last_error.find("locked"), std::string::npos) << health.last_error;

  lock.release();
  recorder.flush();
  EXPECT_EQ(ledger_count(db_path_), 5);
  EXPECT_FALSE(recorder.health().failing);
  EXPECT_EQ(recorder.health().pending_rows, 0);
}

TEST_F(UsageRecorderTest, RowsBeyondTheQueueGoToTheSpillFileAndMergeBackWhenTheDatabaseRecovers) {
  RecorderOptions options = quick_options();
  options.queue_capacity = 3;
  options.batch_size = 3;
  UsageRecorder recorder(db_path_, nullptr, options);
  SqliteLockHolder lock(db_path_);
  ASSERT_TRUE(lock.locked());
  for (int i = 0; i < 10; ++i) recorder.record(row(i));  // never waits, however long the lock is held

  pricing::RecorderHealth health = recorder.health();
  EXPECT_LE(health.pending_rows, 6) << "the queue and the batch being retried";
  EXPECT_EQ(health.pending_rows + health.rows_spilled, 10);
  EXPECT_TRUE(std::filesystem::exists(recorder.spill_path()));

  lock.release();
  recorder.flush();
  ASSERT_TRUE(eventually([&] { return !std::filesystem::exists(recorder.spill_path()); })) << "the spill file was not merged";
  EXPECT_EQ(ledger_count(db_path_), 10);
  EXPECT_EQ(recorder.rows_written(), 10);
  EXPECT_EQ(recorder.rows_lost(), 0);
}

TEST_F(UsageRecorderTest, RowsStillUnwrittenAtStopAreSpilledAndMergedAtTheNextStart) {
  {
    SqliteLockHolder lock(db_path_);
    ASSERT_TRUE(lock.locked());
    UsageRecorder recorder(db_path_, nullptr, quick_options());
    for (int i = 0; i < 4; ++i) recorder.record(row(i));
    recorder.stop();  // gives up on the database after give_up_after_at_stop
    EXPECT_EQ(recorder.health().rows_spilled, 4);
    EXPECT_EQ(recorder.rows_lost(), 0);
  }
  EXPECT_EQ(ledger_count(db_path_), 0);
  UsageRecorder next_run(db_path_, nullptr, quick_options());
  EXPECT_EQ(ledger_count(db_path_), 4) << "the next start merges what the last run spilled";
  EXPECT_FALSE(std::filesystem::exists(next_run.spill_path()));
}

TEST_F(UsageRecorderTest, RowsNoFileCanTakeAreReportedInFullNotDropped) {
  RecorderOptions options = quick_options();
  options.spill_path = (dir_.path() / "no-such-folder" / "spill").string();
  std::mutex mutex;
  std::vector<std::string> reported;
  UsageRecorder recorder(db_path_, nullptr, options, [&](const LedgerRecord& lost, const std::string& why) {
    EXPECT_NE(why.find("spill file"), std::string::npos) << why;
    std::lock_guard guard(mutex);
    reported.push_back(lost.request_id);
  });
  SqliteLockHolder lock(db_path_);
  ASSERT_TRUE(lock.locked());
  for (int i = 0; i < 3; ++i) recorder.record(row(i));
  recorder.stop();

  EXPECT_EQ(recorder.rows_lost(), 3);
  std::lock_guard guard(mutex);
  EXPECT_EQ(reported, (std::vector<std::string>{"req-0", "req-1", "req-2"}));
}

TEST_F(UsageRecorderTest, MergingASpillFileTwiceAddsEachRowOnce) {
  std::string spill = (dir_.path() / "spill").string();
  {
    pricing::Database spill_db = pricing::Database::open(spill);
    pricing::insert_ledger_rows(spill_db, {row(1), row(2)});
  }
  std::filesystem::copy_file(spill, spill + ".copy");
  pricing::Database db = pricing::Database::open(db_path_);
  EXPECT_EQ(pricing::merge_ledger_spill(db, spill), 2);
  EXPECT_FALSE(std::filesystem::exists(spill));
  std::filesystem::rename(spill + ".copy", spill);  // as if the first merge had died before deleting the file
  EXPECT_EQ(pricing::merge_ledger_spill(db, spill), 0);
  EXPECT_EQ(ledger_count(db_path_), 2);
}

// The writer yields its core between slices of a batch; the batch stays one transaction all the same.
TEST_F(UsageRecorderTest, APacedInsertWritesEveryRowOnceInOneTransaction) {
  pricing::Database db = pricing::Database::open(db_path_);
  std::vector<LedgerRecord> rows;
  for (int i = 1; i <= 50; ++i) rows.push_back(row(i));
  pricing::insert_ledger_rows(db, rows, 7);
  EXPECT_EQ(ledger_count(db_path_), 50);
  pricing::Statement sum = db.prepare("SELECT SUM(completion_tokens) FROM usage_ledger");
  sum.step();
  EXPECT_EQ(sum.integer(0), 50 * 51 / 2);

  // A row refused in the fifth slice takes the four slices before it back with it.
  db.exec("DELETE FROM usage_ledger;"
          "CREATE TRIGGER refuse_row_30 BEFORE INSERT ON usage_ledger WHEN NEW.request_id = 'req-30'"
          " BEGIN SELECT RAISE(ABORT, 'refused'); END;");
  EXPECT_THROW(pricing::insert_ledger_rows(db, rows, 7), std::exception);
  EXPECT_EQ(ledger_count(db_path_), 0);
}

// Rows go in groups of sixteen per INSERT, the rest one by one: every field of every row lands as given,
// in order, whatever its place in a group.
TEST_F(UsageRecorderTest, EveryFieldOfEveryRowIsWrittenAsGiven) {
  std::vector<LedgerRecord> rows;
  for (int i = 0; i < 37; ++i) rows.push_back(varied_row(i));
  pricing::Database db = pricing::Database::open(db_path_);
  pricing::insert_ledger_rows(db, rows, 16);
  pricing::Statement read = db.prepare(
      "SELECT request_id, created_at_ms, api_key_id, requested_model, route, prompt_tokens, completion_tokens, cost_usd, ttft_ms,"
      " duration_ms, status, error_code, routes_tried, stream FROM usage_ledger ORDER BY rowid");
  for (const LedgerRecord& expected : rows) {
    ASSERT_TRUE(read.step());
    EXPECT_EQ(read.text(0), expected.request_id);
    EXPECT_EQ(read.integer(1), expected.created_at_ms);
    EXPECT_EQ(read.text(2), expected.api_key_id);
    EXPECT_EQ(read.text(3), expected.requested_model);
    EXPECT_EQ(read.text(4), expected.route);
    EXPECT_EQ(read.integer(5), expected.prompt_tokens);
    EXPECT_EQ(read.integer(6), expected.completion_tokens);
    EXPECT_EQ(read.real(7), expected.cost_usd);
    EXPECT_EQ(read.optional_real(8), expected.ttft_ms) << expected.request_id;
    EXPECT_EQ(read.real(9), expected.duration_ms);
    EXPECT_EQ(read.integer(10), expected.status);
    EXPECT_EQ(read.text(11), expected.error_code);
    EXPECT_EQ(read.text(12), expected.routes_tried_json);
    EXPECT_EQ(read.integer(13), expected.stream ? 1 : 0);
  }
  EXPECT_FALSE(read.step());
}

// The scheduling policy of this process's thread named `name`, as the kernel has it; -1 if there is none.
int policy_of_thread(const std::string& name) {
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::string comm;
    std::getline(std::ifstream(task.path() / "comm"), comm);
    if (comm == name) return sched_getscheduler(std::stoi(task.path().filename().string()));
  }
  return -1;
}

void record_rows(UsageRecorder& recorder, int count) {
  for (int i = 0; i < count; ++i) recorder.record(row(i));
  recorder.flush();
}

TEST_F(UsageRecorderTest, CheckpointsRunOnAThreadOfTheirOwnAtIdlePriority) {
  RecorderOptions options = quick_options();
  options.batch_size = 64;
  options.checkpoint_at_pages = 20;
  UsageRecorder recorder(db_path_, nullptr, options);
  record_rows(recorder, 3'000);
  EXPECT_EQ(ledger_count(db_path_), 3'000);
  EXPECT_TRUE(eventually([&] { return recorder.health().checkpoints > 0; }));
  EXPECT_EQ(policy_of_thread("mg-checkpoint"), SCHED_IDLE);
  EXPECT_NE(policy_of_thread("mg-ledger"), SCHED_IDLE);
}

// Should the idle thread never get the CPU, the writer keeps the log from growing without bound itself.
TEST_F(UsageRecorderTest, TheWriterCheckpointsItselfPastItsLimit) {
  RecorderOptions options = quick_options();
  options.batch_size = 64;
  options.checkpoint_at_pages = 1'000'000'000;  // the idle thread is never asked
  options.writer_checkpoints_at_pages = 50;
  UsageRecorder recorder(db_path_, nullptr, options);
  record_rows(recorder, 20'000);  // some 2,000 pages of log without a checkpoint
  EXPECT_EQ(ledger_count(db_path_), 20'000);
  EXPECT_EQ(recorder.health().checkpoints, 0);
  EXPECT_LT(std::filesystem::file_size(db_path_ + "-wal"), 1'000'000u);
}

}  // namespace
}  // namespace mg::test
