// The crash journal of ledger rows: its frames read back whole or not at all, its segments are deleted
// once settled, and replay takes exactly the rows of segments no living process holds, each once.
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "pricing/journal_record.h"
#include "pricing/ledger_journal.h"
#include "tests/pricing/ledger_test_rows.h"
#include "tests/support/test_gateway.h"

namespace mg::test {
namespace {

namespace fs = std::filesystem;
using pricing::DecodedJournal;
using pricing::JournalReplay;
using pricing::JournalSegment;
using pricing::LedgerJournal;
using pricing::LedgerRecord;

std::vector<LedgerRecord> varied_rows(int first, int count) {
  std::vector<LedgerRecord> rows;
  for (int i = first; i < first + count; ++i) rows.push_back(varied_row(i));
  return rows;
}

std::string frames_of(const std::vector<LedgerRecord>& rows) {
  std::string bytes;
  for (const LedgerRecord& row : rows) EXPECT_TRUE(pricing::append_journal_frame(row, bytes));
  return bytes;
}

std::string frames_of(int first, int count) { return frames_of(varied_rows(first, count)); }

TEST(JournalRecordTest, EveryFieldOfEveryRowReadsBackAsWritten) {
  std::vector<LedgerRecord> rows = varied_rows(0, 12);  // every mix of empty texts, missing ttft, stream
  rows[3].request_id = std::string("nul\0and\xff bytes", 14);
  rows[4].cost_usd = -0.0;
  rows[5].created_at_ms = -1;
  DecodedJournal decoded = pricing::decode_journal(frames_of(rows));
  EXPECT_EQ(decoded.rows, rows);
  EXPECT_EQ(decoded.damaged_bytes, 0u);
}

TEST(JournalRecordTest, ATornTailIsSkippedAndTheRowsBeforeItKept) {
  std::string bytes = frames_of(0, 3);
  std::string torn = bytes.substr(0, bytes.size() - 5);  // the last write() cut short by a power loss
  DecodedJournal decoded = pricing::decode_journal(torn);
  EXPECT_EQ(decoded.rows, varied_rows(0, 2));
  EXPECT_EQ(decoded.damaged_spans, 1u);
  EXPECT_GT(decoded.damaged_bytes, pricing::kJournalFrameHeaderBytes);
}

TEST(JournalRecordTest, ARowWhoseBytesFailTheCrcIsSkippedAndTheRestKept) {
  std::string first = frames_of(0, 1);
  std::string bytes = first + frames_of(1, 3);
  bytes[first.size() + pricing::kJournalFrameHeaderBytes + 3] ^= 0x20;  // a flipped bit in the second row's payload
  DecodedJournal decoded = pricing::decode_journal(bytes);
  EXPECT_EQ(decoded.rows, (std::vector<LedgerRecord>{varied_row(0), varied_row(2), varied_row(3)}));
  EXPECT_EQ(decoded.damaged_spans, 1u);
}

// A short write() (a full disk) leaves a piece of a frame, and the next row is appended after it.
TEST(JournalRecordTest, APieceOfAFrameInTheMiddleIsSkippedAndTheRowsAfterItKept) {
  std::string piece = frames_of(1, 1).substr(0, 20);
  DecodedJournal decoded = pricing::decode_journal(frames_of(0, 1) + piece + frames_of(2, 2) + std::string(7, '\0'));
  EXPECT_EQ(decoded.rows, (std::vector<LedgerRecord>{varied_row(0), varied_row(2), varied_row(3)}));
  EXPECT_EQ(decoded.damaged_spans, 2u);
  EXPECT_EQ(decoded.damaged_bytes, 27u);
}

class LedgerJournalTest : public ::testing::Test {
 protected:
  void SetUp() override { pricing::Database::open(db_path_); }

  std::vector<fs::path> segment_files() const {
    std::vector<fs::path> files;
    if (fs::exists(journal_dir_)) {
      for (const auto& entry : fs::directory_iterator(journal_dir_)) files.push_back(entry.path());
    }
    return files;
  }

  JournalReplay replay() {
    pricing::Database db = pricing::Database::open(db_path_);
    return pricing::replay_abandoned_segments(db, journal_dir_);
  }

  // Rows appended by a journal object that then goes away without settling them, as in a crash.
  void leave_rows(int first, int count, std::size_t segment_bytes = LedgerJournal::kDefaultSegmentBytes) {
    LedgerJournal journal(journal_dir_, segment_bytes);
    for (int i = first; i < first + count; ++i) ASSERT_TRUE(journal.append(varied_row(i))) << journal.last_error();
  }

  TempDir dir_;
  std::string db_path_ = (dir_.path() / "ledger.db").string();
  std::string journal_dir_ = db_path_ + ".journal";
};

TEST_F(LedgerJournalTest, ReplayAddsTheRowsNotYetInTheLedgerAndDeletesTheSegments) {
  {
    pricing::Database db = pricing::Database::open(db_path_);
    pricing::insert_ledger_rows(db, varied_rows(0, 4));  // written before the crash
  }
  leave_rows(0, 10);
  JournalReplay replayed = replay();
  EXPECT_EQ(replayed.segments, 1u);
  EXPECT_EQ(replayed.rows_read, 10);
  EXPECT_EQ(replayed.rows_added, 6);
  EXPECT_EQ(ledger_count(db_path_), 10);
  EXPECT_TRUE(segment_files().empty());
  EXPECT_EQ(replay().rows_read, 0) << "nothing left to replay";
}

// A crash between the replay's commit and its deletes: the next replay adds nothing twice.
TEST_F(LedgerJournalTest, ReplayingTheSameSegmentTwiceAddsEachRowOnce) {
  leave_rows(0, 5);
  fs::path segment = segment_files().at(0);
  fs::copy_file(segment, segment.string() + ".copy");
  EXPECT_EQ(replay().rows_added, 5);
  fs::rename(segment.string() + ".copy", segment);
  JournalReplay again = replay();
  EXPECT_EQ(again.rows_read, 5);
  EXPECT_EQ(again.rows_added, 0);
  EXPECT_EQ(ledger_count(db_path_), 5);
}

TEST_F(LedgerJournalTest, ASegmentHeldByAnotherOpenJournalIsNotReplayed) {
  LedgerJournal live(journal_dir_);
  ASSERT_TRUE(live.append(varied_row(1)));
  EXPECT_EQ(replay().segments, 0u);
  EXPECT_EQ(ledger_count(db_path_), 0);
  EXPECT_EQ(segment_files().size(), 1u);
}

// The holder is another process: its segment is replayed only once it has died.
TEST_F(LedgerJournalTest, ASegmentOfALivingProcessIsReplayedOnlyAfterItDies) {
  int ready[2], release[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(release), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    LedgerJournal journal(journal_dir_);
    bool appended = journal.append(varied_row(7)) && journal.append(varied_row(8));
    char byte = appended ? 'y' : 'n';
    (void)!::write(ready[1], &byte, 1);
    (void)!::read(release[0], &byte, 1);
    ::_exit(0);  // no destructor: the kernel drops the lock, as in a crash
  }
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);
  EXPECT_EQ(byte, 'y');
  EXPECT_EQ(replay().segments, 0u) << "the child holds its segment";
  ASSERT_EQ(::write(release[1], "x", 1), 1);
  ::waitpid(child, nullptr, 0);
  for (int fd : {ready[0], ready[1], release[0], release[1]}) ::close(fd);
  JournalReplay replayed = replay();
  EXPECT_EQ(replayed.segments, 1u);
  EXPECT_EQ(replayed.rows_added, 2);
}

TEST_F(LedgerJournalTest, SegmentsRotatePastTheirSizeAndSettledOnesAreDeleted) {
  const std::size_t frame_bytes = frames_of(10, 1).size();
  LedgerJournal journal(journal_dir_, frame_bytes * 3);
  for (int i = 10; i < 20; ++i) ASSERT_TRUE(journal.append(varied_row(i)));
  EXPECT_EQ(journal.generation(), 4u);
  EXPECT_EQ(segment_files().size(), 4u);

  std::vector<JournalSegment> settled = journal.take_settled_before(3);  // rows of segments 1 and 2 settled
  EXPECT_EQ(settled.size(), 2u);
  pricing::retire_segments(settled);
  EXPECT_EQ(segment_files().size(), 2u);

  settled = journal.take_all_settled();  // idle: everything settled
  pricing::retire_segments(settled);
  ASSERT_EQ(segment_files().size(), 1u);
  EXPECT_EQ(fs::file_size(segment_files()[0]), 0u) << "the current segment is emptied in place";

  ASSERT_TRUE(journal.append(varied_row(20)));
  settled = journal.take_all();
  pricing::retire_segments(settled);
  EXPECT_TRUE(segment_files().empty());
}

TEST_F(LedgerJournalTest, SegmentsHoldingRowsReportedLostStayForReplay) {
  {
    LedgerJournal journal(journal_dir_);
    ASSERT_TRUE(journal.append(varied_row(1)));
    journal.keep_through(journal.generation());
    std::vector<JournalSegment> all = journal.take_all();
    pricing::retire_segments(all);
  }
  EXPECT_EQ(segment_files().size(), 1u);
  EXPECT_EQ(replay().rows_added, 1);
}

TEST_F(LedgerJournalTest, AFolderThatCannotBeCreatedFailsTheStartSayingWhich) {
  std::ofstream(dir_.path() / "in-the-way") << "a file";
  std::string wanted = (dir_.path() / "in-the-way").string();
  try {
    LedgerJournal journal(wanted);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(wanted), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mg::test
