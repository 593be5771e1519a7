// Another process holding a SQLite database's write lock: the `sqlite3` shell inside BEGIN EXCLUSIVE,
// until release() commits. What an operator's ad-hoc session or a backup script does to a live gateway.
#pragma once

#include <sys/types.h>

#include <string>

namespace mg::test {

class SqliteLockHolder {
 public:
  // Returns once the other process holds the lock; check locked() (false when sqlite3 could not start).
  explicit SqliteLockHolder(const std::string& db_path);
  ~SqliteLockHolder();  // releases
  SqliteLockHolder(const SqliteLockHolder&) = delete;
  SqliteLockHolder& operator=(const SqliteLockHolder&) = delete;

  bool locked() const { return locked_; }
  void release();  // commits and waits for the process to exit

 private:
  pid_t pid_ = -1;
  int to_shell_ = -1;
  int from_shell_ = -1;
  bool locked_ = false;
};

}  // namespace mg::test
