#include "pricing/ledger_journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <utility>

#include "pricing/journal_record.h"

namespace mg::pricing {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSegmentSuffix = ".seg";
constexpr const char* kUnnamedSuffix = ".new";  // created, not yet locked and named
// A ".new" file older than this was left by a process that died between creating and naming it.
constexpr auto kUnnamedLeftoverAge = std::chrono::minutes(1);

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

std::string random_tag() {
  std::random_device random;
  char tag[17];
  std::snprintf(tag, sizeof tag, "%08x%08x", random(), random());
  return tag;
}

// A segment that no living process holds, locked by us now.
struct ClaimedSegment {
  std::string path;
  UniqueFd fd;
};

// Locks `path` unless a living process holds it; nullopt too when the file went away meanwhile (another
// replayer deleted it between our open and our lock).
std::optional<ClaimedSegment> claim(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0 || ::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return std::nullopt;
  struct stat opened {}, named {};
  if (::fstat(fd.get(), &opened) != 0 || ::stat(path.c_str(), &named) != 0 || opened.st_ino != named.st_ino ||
      opened.st_dev != named.st_dev) {
    return std::nullopt;
  }
  return ClaimedSegment{path, std::move(fd)};
}

std::string read_whole(const ClaimedSegment& segment) {
  std::string bytes;
  char buffer[1 << 16];
  for (off_t at = 0;;) {
    ssize_t n = ::pread(segment.fd.get(), buffer, sizeof buffer, at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(errno_text("cannot read the journal segment '" + segment.path + "'"));
    if (n == 0) return bytes;
    bytes.append(buffer, static_cast<std::size_t>(n));
    at += n;
  }
}

bool is_unnamed_leftover(const fs::directory_entry& entry) {
  std::error_code error;
  auto modified = entry.last_write_time(error);
  return !error && fs::file_time_type::clock::now() - modified > kUnnamedLeftoverAge;
}

// The segments of `dir` no living process holds, locked; stale ".new" files are deleted on the way.
std::vector<ClaimedSegment> claim_abandoned(const std::string& dir) {
  std::vector<ClaimedSegment> claimed;
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, error)) {
    const std::string path = entry.path().string();
    if (entry.path().extension() == kUnnamedSuffix && is_unnamed_leftover(entry) && claim(path)) fs::remove(path, error);
    if (entry.path().extension() != kSegmentSuffix) continue;
    if (std::optional<ClaimedSegment> segment = claim(path)) claimed.push_back(std::move(*segment));
  }
  return claimed;
}

}  // namespace

UniqueFd::UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  reset(std::exchange(other.fd_, -1));
  return *this;
}

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

void JournalSegment::retire() {
  if (!keep) ::unlink(path.c_str());  // before the close: the lock guards the file until it is gone
  fd.reset();
}

void retire_segments(std::vector<JournalSegment>& segments) {
  for (JournalSegment& segment : segments) segment.retire();
  segments.clear();
}

LedgerJournal::LedgerJournal(std::string dir, std::size_t segment_bytes)
    : dir_(std::move(dir)), segment_bytes_(segment_bytes),
      name_prefix_(std::to_string(::getpid()) + "-" + random_tag() + "-") {
  std::error_code error;
  fs::create_directories(dir_, error);
  if (error || !fs::is_directory(dir_)) {
    throw std::runtime_error("cannot create the ledger journal folder '" + dir_ + "': " +
                             (error ? error.message() : "a file of that name is in the way") + "; expected a writable folder");
  }
}

// Created under a name replay ignores, locked, then renamed: replay never sees a segment unlocked.
bool LedgerJournal::open_next_segment() {
  const std::uint64_t generation = generation_ + 1;
  const std::string stem = dir_ + "/" + name_prefix_ + std::to_string(generation);
  const std::string unnamed = stem + kUnnamedSuffix;
  UniqueFd fd(::open(unnamed.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600));
  if (fd.get() < 0) {
    last_error_ = errno_text("cannot create the journal segment '" + unnamed + "'");
    return false;
  }
  if (::flock(fd.get(), LOCK_EX) != 0 || ::rename(unnamed.c_str(), (stem + kSegmentSuffix).c_str()) != 0) {
    last_error_ = errno_text("cannot lock and name the journal segment '" + unnamed + "'");
    ::unlink(unnamed.c_str());
    return false;
  }
  if (current_) older_.push_back(std::move(*current_));
  generation_ = generation;
  current_ = JournalSegment{stem + kSegmentSuffix, generation, 0, false, std::move(fd)};
  return true;
}

bool LedgerJournal::append(const LedgerRecord& row) {
  frame_.clear();
  if (!append_journal_frame(row, frame_)) {
    last_error_ = "a ledger row of more than " + std::to_string(kJournalMaxPayloadBytes) + " bytes (request_id " + row.request_id + ")";
    return false;
  }
  const bool full = current_ && current_->bytes > 0 && current_->bytes + frame_.size() > segment_bytes_;
  if ((!current_ || full) && !open_next_segment()) return false;
  ssize_t written;
  do {
    written = ::write(current_->fd.get(), frame_.data(), frame_.size());
  } while (written < 0 && errno == EINTR);
  if (written > 0) current_->bytes += static_cast<std::size_t>(written);
  if (written == static_cast<ssize_t>(frame_.size())) return true;
  // A short write leaves a torn frame, which replay skips; the frames after it still read.
  last_error_ = written < 0 ? errno_text("cannot write to the journal segment '" + current_->path + "'")
                            : "a short write to the journal segment '" + current_->path + "' (" + std::to_string(written) + " of " +
                                  std::to_string(frame_.size()) + " bytes; the disk is full?)";
  return false;
}

std::vector<JournalSegment> LedgerJournal::take_settled_before(std::uint64_t generation) {
  std::vector<JournalSegment> settled;
  while (!older_.empty() && older_.front().generation < generation) {
    settled.push_back(std::move(older_.front()));
    older_.pop_front();
  }
  return settled;
}

std::vector<JournalSegment> LedgerJournal::take_all_settled() {
  std::vector<JournalSegment> settled = take_settled_before(generation_);
  if (current_ && current_->keep) {
    settled.push_back(std::move(*current_));
    current_.reset();  // the next append opens a new segment
  } else if (current_ && current_->bytes > 0 && ::ftruncate(current_->fd.get(), 0) == 0) {
    current_->bytes = 0;
  }
  return settled;
}

std::vector<JournalSegment> LedgerJournal::take_all() {
  std::vector<JournalSegment> all = take_settled_before(generation_ + 1);
  if (current_) all.push_back(std::move(*current_));
  current_.reset();
  return all;
}

void LedgerJournal::keep_through(std::uint64_t generation) {
  for (JournalSegment& segment : older_) segment.keep = segment.keep || segment.generation <= generation;
  if (current_) current_->keep = current_->keep || current_->generation <= generation;
}

JournalReplay replay_abandoned_segments(Database& db, const std::string& dir) {
  JournalReplay replay;
  std::vector<ClaimedSegment> claimed = claim_abandoned(dir);
  if (claimed.empty()) return replay;
  std::vector<LedgerRecord> rows;
  for (const ClaimedSegment& segment : claimed) {
    DecodedJournal decoded = decode_journal(read_whole(segment));
    if (decoded.damaged_bytes > 0) {
      std::fprintf(stderr, "usage recorder: journal segment '%s': skipped %zu bytes of torn or damaged rows (%zu places); its %zu whole rows are kept\n",
                   segment.path.c_str(), decoded.damaged_bytes, decoded.damaged_spans, decoded.rows.size());
    }
    replay.damaged_bytes += decoded.damaged_bytes;
    rows.insert(rows.end(), std::make_move_iterator(decoded.rows.begin()), std::make_move_iterator(decoded.rows.end()));
  }
  replay.rows_added = add_missing_ledger_rows(db, rows);  // throws when refused: the files stay, unlocked by the closes
  replay.rows_read = static_cast<std::int64_t>(rows.size());
  replay.segments = claimed.size();
  for (const ClaimedSegment& segment : claimed) ::unlink(segment.path.c_str());  // a crash before this: the rows dedup next time
  return replay;
}

}  // namespace mg::pricing
