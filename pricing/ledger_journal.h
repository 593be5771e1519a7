// The crash journal of ledger rows: what keeps a row the gateway has answered for when the process dies
// before the UsageRecorder's writer has put it in the database (SIGKILL, the OOM killer, a crash).
//
// record() appends each row to a segment file with one write() on an O_APPEND descriptor, before the row
// enters the writer's queue. Once write() returns, the row is in the kernel's page cache and outlives the
// process; no fsync, which would put a disk flush (milliseconds) on every request. What a power loss or
// a kernel crash can still cost is the rows the kernel had not yet written back: dirty pages are written
// once older than /proc/sys/vm/dirty_expire_centisecs, by a flusher waking every dirty_writeback_centisecs
// (Linux defaults 3000 and 500: rows up to about 35 s old, usually fewer), less whatever the writer had
// already committed to the database. The frame format (pricing/journal_record.h) makes the torn tail such
// a loss leaves skipped, never mis-read.
//
// Segments live in a folder beside the database ("<db_path>.journal/"), which several gateway processes
// may share (a restart on a shared port runs old and new at once on one database). Each file is named
// "<pid>-<random tag>-<generation>.seg" and held with flock(LOCK_EX) by its writer for as long as it
// may hold unsettled rows; the kernel drops that lock when the process dies. Any process replays the
// segments no living process holds (replay_abandoned_segments), at start and then periodically.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "pricing/database.h"
#include "pricing/ledger.h"

namespace mg::pricing {

// A file descriptor, closed with the object.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept;
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

struct JournalSegment {
  std::string path;
  std::uint64_t generation = 0;
  std::size_t bytes = 0;
  bool keep = false;  // holds rows the writer reported lost: left on disk, unlocked, to be replayed
  UniqueFd fd;        // open for appending, holding flock(LOCK_EX)

  // Deletes the file (unless kept) and closes it, which drops the lock. Outside the recorder's lock.
  void retire();
};

// The segments one process writes. Not thread-safe: the UsageRecorder calls it under the mutex that
// guards its queue, so that the journal holds the rows in queue order.
class LedgerJournal {
 public:
  static constexpr std::size_t kDefaultSegmentBytes = 4 << 20;

  // Creates `dir` if missing (throws std::runtime_error naming it when it cannot: start-up only). The
  // first segment is opened by the first append.
  LedgerJournal(std::string dir, std::size_t segment_bytes = kDefaultSegmentBytes);
  // Closes the segments still open and leaves their files, as a crash would: the next start replays them.
  ~LedgerJournal() = default;
  LedgerJournal(const LedgerJournal&) = delete;
  LedgerJournal& operator=(const LedgerJournal&) = delete;

  // One write() of the framed row; an open() first when the segment is full (or none is open). False
  // when the row could not be journaled; last_error() says why.
  bool append(const LedgerRecord& row);
  // The generation of the segment the last append went to; a row settled at generation g settles every
  // segment before g.
  std::uint64_t generation() const { return generation_; }
  const std::string& last_error() const { return last_error_; }
  const std::string& dir() const { return dir_; }

  // Segments every row of which is settled (those before `generation`), handed out to be retired
  // outside the lock.
  std::vector<JournalSegment> take_settled_before(std::uint64_t generation);
  // Every row appended is settled: hands out all but the current segment, which is emptied in place (an
  // ftruncate, called when idle only), or handed out too when it must be kept.
  std::vector<JournalSegment> take_all_settled();
  // Every segment, the current one included (at stop, when every row is settled).
  std::vector<JournalSegment> take_all();
  // Rows of generations up to `generation` were reported lost: their segments are kept for replay.
  void keep_through(std::uint64_t generation);

 private:
  bool open_next_segment();

  std::string dir_;
  std::size_t segment_bytes_;
  std::string name_prefix_;  // "<pid>-<random tag>-"
  std::uint64_t generation_ = 0;
  std::optional<JournalSegment> current_;
  std::deque<JournalSegment> older_;  // full, oldest first, with rows not yet settled
  std::string frame_;                 // the encoding buffer, reused: its capacity stays
  std::string last_error_;
};

void retire_segments(std::vector<JournalSegment>& segments);

struct JournalReplay {
  std::size_t segments = 0;        // abandoned segments read, then deleted
  std::int64_t rows_read = 0;      // whole rows in them
  std::int64_t rows_added = 0;     // of those, the ones not yet in the ledger
  std::size_t damaged_bytes = 0;   // torn or damaged bytes skipped (each segment's are logged)
};

// Adds the rows of every segment in `dir` that no living process holds to the ledger of `db` (in one
// transaction, skipping rows already there: see insert_missing_ledger_rows), then deletes those segments.
// Throws when the database refuses; the segments then stay for a later try.
JournalReplay replay_abandoned_segments(Database& db, const std::string& dir);

}  // namespace mg::pricing
