// The gateway's database: a SQLite file (the embedded default, opened in WAL mode) or a PostgreSQL server
// that several replicas share, chosen by the location's form: a path, or a postgresql:// URL. Opened once
// at start-up and brought to the newest schema by the same numbered migrations on both.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pricing/statement.h"

struct sqlite3;

namespace mg::pricing {

enum class Backend { sqlite, postgres };

struct Migration {
  int version;               // the schema version once applied
  const char* sqlite_sql;    // one or more statements, applied in one transaction
  const char* postgres_sql;  // the same change in PostgreSQL's words; nullptr when sqlite_sql serves both
  const char* sql(Backend backend) const { return backend == Backend::postgres && postgres_sql ? postgres_sql : sqlite_sql; }
};

// Migrations in order (pricing/migrations.cpp); append only, never edit one that has shipped.
const std::vector<Migration>& schema_migrations();

// True for postgresql:// and postgres:// URLs; anything else names a SQLite file.
bool is_postgres_location(std::string_view location);
// The location as logs may show it: a URL's password replaced by "***".
std::string printable_location(std::string_view location);

// Where the files a gateway keeps on its own disk (the ledger's spill file and crash journal) begin:
// beside a SQLite file, or in `state_dir` ("" : the current directory) named after a server's database.
// The callers append a suffix (".journal", ".ledger-spill").
std::string local_file_base(const std::string& location, const std::string& state_dir);

// One backend's open connection (pricing/sqlite_backend.cpp, pricing/postgres_backend.cpp).
class Connection {
 public:
  virtual ~Connection() = default;
  virtual Backend backend() const = 0;
  virtual void exec(const std::string& sql) = 0;  // one or more statements without parameters
  virtual std::unique_ptr<StatementBackend> prepare(std::string_view sql) = 0;
  virtual std::int64_t changes() const = 0;  // rows changed by the last INSERT, UPDATE or DELETE
  virtual int schema_version() = 0;          // -1 when the database is not readable as ours
  // Applies `migration` and records its version, in one transaction.
  virtual void migrate(const Migration& migration) = 0;
  virtual sqlite3* sqlite_handle() const { return nullptr; }
};

class Database {
 public:
  // Opens (creating a SQLite file if missing) and migrates. Throws DatabaseError naming the location and
  // the problem: this runs at start-up only.
  static Database open(const std::string& location);

  Database(Database&&) noexcept = default;
  Database& operator=(Database&&) noexcept = default;
  ~Database();

  Backend backend() const { return connection_->backend(); }
  int schema_version() const { return connection_->schema_version(); }
  // A counter in gateway_meta (catalogue_version, keys_version) that triggers bump; 0 when absent.
  std::int64_t meta_counter(std::string_view key) const;
  const std::string& path() const { return location_; }  // the path or URL it was opened with
  void exec(const std::string& sql) { connection_->exec(sql); }  // throws on error, with the backend's message
  Statement prepare(std::string_view sql) const { return Statement(connection_->prepare(sql)); }
  std::int64_t changes() const { return connection_->changes(); }
  // The SQLite connection, for what only SQLite has (WAL checkpoints, busy timeouts); nullptr on PostgreSQL.
  sqlite3* sqlite_handle() const { return connection_->sqlite_handle(); }

 private:
  Database(std::string location, std::unique_ptr<Connection> connection);

  std::string location_;
  std::unique_ptr<Connection> connection_;
};

// BEGIN (IMMEDIATE on SQLite) on construction; ROLLBACK on destruction unless commit() was called.
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
