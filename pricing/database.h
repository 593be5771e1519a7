// The gateway's SQLite file: opened once at start-up in WAL mode and brought to the newest schema by
// numbered migrations tracked in PRAGMA user_version. The catalogue and ledger tables build on this.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pricing/statement.h"

struct sqlite3;

namespace mg::pricing {

struct Migration {
  int version;           // becomes PRAGMA user_version once applied
  const char* sql;       // one or more statements, applied in one transaction
};

// Migrations in order (pricing/migrations.cpp); append only, never edit one that has shipped.
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
  // A counter in gateway_meta (catalogue_version, keys_version) that triggers bump; 0 when absent.
  std::int64_t meta_counter(std::string_view key) const;
  const std::string& path() const { return path_; }
  void exec(const std::string& sql);  // throws on error, with the statement's error message
  Statement prepare(std::string_view sql) const;
  sqlite3* handle() const { return handle_.get(); }

 private:
  struct Closer {
    void operator()(sqlite3* db) const;
  };
  Database(std::string path, sqlite3* handle);

  std::string path_;
  std::unique_ptr<sqlite3, Closer> handle_;
};

// BEGIN IMMEDIATE on construction; ROLLBACK on destruction unless commit() was called.
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Database& db_;
  bool committed_ = false;
};

}  // namespace mg::pricing
