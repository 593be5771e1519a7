// A prepared SQLite statement: binds by position, steps, reads columns. Errors throw DatabaseError
// carrying SQLite's message and code; catalogue code runs at start-up, in the CLI or on the background writer
// threads, never on the request path.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace mg::pricing {

// What SQLite refused, with its primary result code, so that callers can tell a damaged file from a busy
// or full one.
class DatabaseError : public std::runtime_error {
 public:
  DatabaseError(const std::string& message, int sqlite_code) : std::runtime_error(message), sqlite_code_(sqlite_code) {}
  int sqlite_code() const { return sqlite_code_; }
  bool damaged() const;  // SQLITE_CORRUPT or SQLITE_NOTADB: the file is not a sound database
  // SQLite's words for the failure ("database is locked"), without the file's path that what() names:
  // what may be shown beyond the log.
  std::string reason() const;

 private:
  int sqlite_code_;
};

// Throws DatabaseError for `db`'s last error: "<what>: <SQLite's message>".
[[noreturn]] void throw_database_error(sqlite3* db, const std::string& what);

class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, std::int64_t value);
  Statement& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
  Statement& bind(int index, bool value) { return bind(index, static_cast<std::int64_t>(value ? 1 : 0)); }
  Statement& bind(int index, double value);
  Statement& bind(int index, std::string_view value);
  Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
  Statement& bind(int index, const std::string& value) { return bind(index, std::string_view(value)); }
  Statement& bind(int index, std::nullopt_t);
  // Binds `value` without copying it: it must stay alive and unchanged until the statement is reset.
  Statement& bind_unowned(int index, std::string_view value);
  template <class T>
  Statement& bind(int index, const std::optional<T>& value) {
    return value ? bind(index, *value) : bind(index, std::nullopt);
  }

  // True while a row is available; false when done.
  bool step();
  // Steps to completion (for statements that return no rows) and resets for reuse.
  void run();
  void reset();

  bool is_null(int column) const;
  std::int64_t integer(int column) const;
  double real(int column) const;
  std::string text(int column) const;
  std::optional<double> optional_real(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* statement_ = nullptr;
};

}  // namespace mg::pricing
