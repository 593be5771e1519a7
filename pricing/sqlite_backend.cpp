#include "pricing/sqlite_backend.h"

#include <sqlite3.h>

namespace mg::pricing {
namespace {

DatabaseError::Kind kind_of(int code) {
  code &= 0xff;
  return code == SQLITE_CORRUPT || code == SQLITE_NOTADB ? DatabaseError::Kind::damaged : DatabaseError::Kind::other;
}

[[noreturn]] void fail(sqlite3* db, const std::string& what) {
  int code = sqlite3_errcode(db);
  throw DatabaseError(what + ": " + sqlite3_errmsg(db), sqlite3_errstr(code), kind_of(code));
}

class SqliteStatement final : public StatementBackend {
 public:
  SqliteStatement(sqlite3* db, std::string_view sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &statement_, nullptr) != SQLITE_OK) {
      fail(db, "cannot prepare '" + std::string(sql.substr(0, 60)) + "'");
    }
  }
  ~SqliteStatement() override { sqlite3_finalize(statement_); }

  void bind_integer(int index, std::int64_t value) override { check(sqlite3_bind_int64(statement_, index, value)); }
  void bind_real(int index, double value) override { check(sqlite3_bind_double(statement_, index, value)); }
  void bind_text(int index, std::string_view value, bool owned) override {
    check(sqlite3_bind_text(statement_, index, value.data(), static_cast<int>(value.size()), owned ? SQLITE_TRANSIENT : SQLITE_STATIC));
  }
  void bind_null(int index) override { check(sqlite3_bind_null(statement_, index)); }

  bool step() override {
    int rc = sqlite3_step(statement_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    DatabaseError error(sqlite3_errmsg(db_), sqlite3_errstr(rc), kind_of(rc));
    sqlite3_reset(statement_);
    throw error;
  }
  void reset() override {
    sqlite3_reset(statement_);
    sqlite3_clear_bindings(statement_);
  }

  bool is_null(int column) const override { return sqlite3_column_type(statement_, column) == SQLITE_NULL; }
  std::int64_t integer(int column) const override { return sqlite3_column_int64(statement_, column); }
  double real(int column) const override { return sqlite3_column_double(statement_, column); }
  std::string text(int column) const override {
    const unsigned char* text = sqlite3_column_text(statement_, column);
    return text ? std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(sqlite3_column_bytes(statement_, column)))
                : std::string();
  }

 private:
  void check(int rc) const {
    if (rc != SQLITE_OK) fail(db_, "bind");
  }

  sqlite3* db_;
  sqlite3_stmt* statement_ = nullptr;
};

class SqliteConnection final : public Connection {
 public:
  SqliteConnection(std::string path, sqlite3* handle) : path_(std::move(path)), handle_(handle) {}
  ~SqliteConnection() override { sqlite3_close_v2(handle_); }

  Backend backend() const override { return Backend::sqlite; }

  void exec(const std::string& sql) override {
    char* message = nullptr;
    int rc = sqlite3_exec(handle_, sql.c_str(), nullptr, nullptr, &message);
    if (rc == SQLITE_OK) return;
    std::string error = message ? message : sqlite3_errmsg(handle_);
    sqlite3_free(message);
    throw DatabaseError("database '" + path_ + "': " + error, sqlite3_errstr(rc), kind_of(rc));
  }

  std::unique_ptr<StatementBackend> prepare(std::string_view sql) override { return std::make_unique<SqliteStatement>(handle_, sql); }
  std::int64_t changes() const override { return sqlite3_changes64(handle_); }

  int schema_version() override {
    sqlite3_stmt* statement = nullptr;
    int version = -1;
    if (sqlite3_prepare_v2(handle_, "PRAGMA user_version", -1, &statement, nullptr) == SQLITE_OK && sqlite3_step(statement) == SQLITE_ROW) {
      version = sqlite3_column_int(statement, 0);
    }
    sqlite3_finalize(statement);
    return version;
  }

  void migrate(const Migration& migration) override {
    exec(std::string("BEGIN IMMEDIATE;") + migration.sql(Backend::sqlite) + "PRAGMA user_version = " +
         std::to_string(migration.version) + "; COMMIT;");
  }

  sqlite3* sqlite_handle() const override { return handle_; }

 private:
  std::string path_;
  sqlite3* handle_;
};

}  // namespace

std::unique_ptr<Connection> open_sqlite(const std::string& path) {
  // SQLite's allocation statistics (sqlite3_memory_used) take a process-wide mutex at every malloc and
  // free; nothing here reads them. Only possible before SQLite's first use, so once, here.
  static const bool statistics_off = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK;
  (void)statistics_off;
  sqlite3* handle = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  auto connection = std::make_unique<SqliteConnection>(path, handle);  // owns the handle even when open failed
  if (rc != SQLITE_OK) throw DatabaseError("cannot open database '" + path + "': " + sqlite3_errstr(rc), sqlite3_errstr(rc), kind_of(rc));
  sqlite3_busy_timeout(handle, 5000);
  connection->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
  if (connection->schema_version() < 0) {
    throw DatabaseError("database '" + path + "' is not a readable SQLite file", sqlite3_errstr(SQLITE_NOTADB), DatabaseError::Kind::damaged);
  }
  return connection;
}

}  // namespace mg::pricing
