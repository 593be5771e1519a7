// The gateway's SQLite file: opened once at start-up in WAL mode and brought to the newest schema by
// numbered migrations tracked in PRAGMA user_version. The catalogue and ledger tables build on this.
#pragma once

#include <memory>
#include <string>
#include <vector>

struct sqlite3;

namespace mg::pricing {

struct Migration {
  int version;           // becomes PRAGMA user_version once applied
  const char* sql;       // one or more statements, applied in one transaction
};

// Migrations in order; append only, never edit one that has shipped.
const std::vector<Migration>& schema_migrations();

class Database {
 public:
  // Opens (creating if missing) and migrates. Throws std::runtime_error naming the file and the problem:
  // this runs at start-up only.
  static Database open(const std::string& path);

  Database(Database&&) noexcept = default;
  Database& operator=(Database&&) noexcept = default;
  ~Database();

  int schema_version() const;
  const std::string& path() const { return path_; }
  void exec(const std::string& sql);  // throws on error, with the statement's error message

 private:
  struct Closer {
    void operator()(sqlite3* db) const;
  };
  Database(std::string path, sqlite3* handle);

  std::string path_;
  std::unique_ptr<sqlite3, Closer> handle_;
};

}  // namespace mg::pricing
