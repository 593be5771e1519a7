// The recorder and its crash journal: a recorder killed with rows unwritten (SIGKILL, the database free
// or locked by another process) leaves them to the next start, which writes each exactly once; a clean
// stop or an idle recorder leaves no rows on disk; a row the journal cannot take is counted.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "pricing/usage_recorder.h"
#include "tests/pricing/ledger_test_rows.h"
#include "tests/support/sqlite_lock_holder.h"
#include "tests/support/test_gateway.h"

namespace mg::test {
namespace {

namespace fs = std::filesystem;
using pricing::RecorderOptions;
using pricing::UsageRecorder;

class UsageRecorderJournalTest : public ::testing::Test {
 protected:
  void SetUp() override { pricing::Database::open(db_path_); }

  // Journal segments on disk, and how many bytes they hold together.
  std::pair<std::size_t, std::uintmax_t> journal_files() const {
    std::pair<std::size_t, std::uintmax_t> files{0, 0};
    if (!fs::exists(journal_dir_)) return files;
    for (const auto& entry : fs::directory_iterator(journal_dir_)) {
      ++files.first;
      files.second += entry.file_size();
    }
    return files;
  }

  // A forked child's recorder, never destroyed (the process is killed): batches of 50 rows, a flush 10 s
  // away, so rows recorded stay unwritten.
  UsageRecorder* recorder_to_kill() {
    RecorderOptions options = quick_options();
    options.batch_size = 50;
    options.flush_interval = 10s;
    return new UsageRecorder(db_path_, nullptr, options);
  }

  // A child process records `flushed` rows and waits for them to be written, records `unwritten` more
  // and is SIGKILLed before its writer gets to them (a batch is 50 rows, a flush 10 s away).
  void record_in_a_killed_process(int flushed, int unwritten) {
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      UsageRecorder* recorder = recorder_to_kill();
      for (int i = 0; i < flushed; ++i) recorder->record(row(i));
      recorder->flush();
      for (int i = flushed; i < flushed + unwritten; ++i) recorder->record(row(i));
      std::this_thread::sleep_for(200ms);  // a locked database: the writer's first attempts fail meanwhile
      ::kill(::getpid(), SIGKILL);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
  }

  TempDir dir_;
  std::string db_path_ = (dir_.path() / "ledger.db").string();
  std::string journal_dir_ = db_path_ + ".journal";
};

TEST_F(UsageRecorderJournalTest, RowsOfAKilledRecorderAreWrittenExactlyOnceAtTheNextStart) {
  record_in_a_killed_process(50, 49);
  EXPECT_EQ(ledger_count(db_path_), 50) << "the rows the child flushed";
  EXPECT_EQ(journal_files().first, 1u) << "the child's segment outlives it";

  UsageRecorder next_run(db_path_, nullptr, quick_options());
  EXPECT_EQ(ledger_count(db_path_), 99);
  EXPECT_EQ(next_run.rows_written(), 49) << "replayed rows count as written";
  next_run.stop();
  EXPECT_EQ(journal_files().first, 0u);
}

TEST_F(UsageRecorderJournalTest, RowsOfARecorderKilledWhileTheDatabaseIsLockedAreAllWrittenAtTheNextStart) {
  SqliteLockHolder lock(db_path_);
  ASSERT_TRUE(lock.locked()) << "the sqlite3 shell could not take the lock";
  record_in_a_killed_process(0, 120);
  lock.release();

  UsageRecorder next_run(db_path_, nullptr, quick_options());
  EXPECT_EQ(ledger_count(db_path_), 120);
  EXPECT_EQ(next_run.rows_written(), 120);
}

// The replay does not wait for a restart: a replica on the same database picks up the rows of one that died.
// The replica is forked before the survivor starts its threads: a fork beside running threads can leave
// the child's allocator locked (it hung under ASan). It dies once the survivor runs.
TEST_F(UsageRecorderJournalTest, ARunningRecorderReplaysTheJournalOfAReplicaThatDied) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t replica = ::fork();
  ASSERT_GE(replica, 0);
  if (replica == 0) {
    UsageRecorder* recorder = recorder_to_kill();
    for (int i = 0; i < 30; ++i) recorder->record(row(i));
    char byte = 1;
    [[maybe_unused]] ssize_t written = ::write(ready[1], &byte, 1);
    while (true) ::pause();
  }
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  RecorderOptions options = quick_options();
  options.stats_interval = 50ms;
  UsageRecorder survivor(db_path_, nullptr, options);
  ::kill(replica, SIGKILL);
  int status = 0;
  ASSERT_EQ(::waitpid(replica, &status, 0), replica);
  ASSERT_TRUE(eventually([&] { return ledger_count(db_path_) == 30; }));
  EXPECT_EQ(survivor.rows_written(), 30);
}

// A database locked at the start refuses the replay: the segments stay, and the writer tries again.
TEST_F(UsageRecorderJournalTest, AReplayTheDatabaseRefusesIsKeptAndRetried) {
  record_in_a_killed_process(0, 20);
  SqliteLockHolder lock(db_path_);
  ASSERT_TRUE(lock.locked());
  RecorderOptions options = quick_options();
  options.stats_interval = 50ms;
  UsageRecorder next_run(db_path_, nullptr, options);
  std::this_thread::sleep_for(200ms);  // a few refused tries
  EXPECT_EQ(journal_files().first, 1u) << "the crashed run's segment is kept";
  lock.release();
  ASSERT_TRUE(eventually([&] { return ledger_count(db_path_) == 20; }));
  EXPECT_EQ(next_run.rows_written(), 20);
  EXPECT_TRUE(eventually([&] { return journal_files().first == 0; }));
}

TEST_F(UsageRecorderJournalTest, ACleanStopLeavesNoJournal) {
  UsageRecorder recorder(db_path_, nullptr, quick_options());
  for (int i = 0; i < 300; ++i) recorder.record(row(i));
  EXPECT_GE(journal_files().first, 1u);
  recorder.stop();
  EXPECT_EQ(journal_files().first, 0u);
  EXPECT_EQ(ledger_count(db_path_), 300);
}

TEST_F(UsageRecorderJournalTest, AnIdleRecorderKeepsNoRowsOnDisk) {
  RecorderOptions options = quick_options();
  options.journal_segment_bytes = 2'000;  // a dozen rows a segment
  options.batch_size = 16;
  UsageRecorder recorder(db_path_, nullptr, options);
  for (int i = 0; i < 500; ++i) recorder.record(row(i));
  recorder.flush();
  EXPECT_TRUE(eventually([&] { return journal_files() == std::pair<std::size_t, std::uintmax_t>{1, 0}; }))
      << journal_files().first << " segments of " << journal_files().second << " bytes";
  EXPECT_EQ(ledger_count(db_path_), 500);
}

TEST_F(UsageRecorderJournalTest, ARowTheJournalCannotTakeIsCountedAndStillWritten) {
  UsageRecorder recorder(db_path_, nullptr, quick_options());
  fs::remove_all(journal_dir_);  // no folder to open a segment in
  recorder.record(row(1));
  recorder.record(row(2));
  EXPECT_EQ(recorder.health().journal_failures, 2);
  recorder.flush();
  EXPECT_EQ(ledger_count(db_path_), 2);
}

}  // namespace
}  // namespace mg::test
