#include "pricing/database.h"

#include <stdexcept>

#include <sqlite3.h>

#include "pricing/statement.h"

namespace mg::pricing {

void Database::Closer::operator()(sqlite3* db) const { sqlite3_close_v2(db); }

Database::Database(std::string path, sqlite3* handle) : path_(std::move(path)), handle_(handle) {}

Database::~Database() = default;

void Database::exec(const std::string& sql) {
  char* message = nullptr;
  int rc = sqlite3_exec(handle_.get(), sql.c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    std::string error = message ? message : sqlite3_errmsg(handle_.get());
    sqlite3_free(message);
    throw DatabaseError("database '" + path_ + "': " + error, rc & 0xff);
  }
}

Statement Database::prepare(std::string_view sql) const { return Statement(handle_.get(), sql); }

Transaction::Transaction(Database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }

Transaction::~Transaction() {
  if (!committed_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
  db_.exec("COMMIT");
  committed_ = true;
}

std::int64_t Database::meta_counter(std::string_view key) const {
  Statement query = prepare("SELECT CAST(value AS INTEGER) FROM gateway_meta WHERE key = ?1");
  query.bind(1, key);
  return query.step() ? query.integer(0) : 0;
}

int Database::schema_version() const {
  sqlite3_stmt* statement = nullptr;
  int version = -1;
  if (sqlite3_prepare_v2(handle_.get(), "PRAGMA user_version", -1, &statement, nullptr) == SQLITE_OK &&
      sqlite3_step(statement) == SQLITE_ROW) {
    version = sqlite3_column_int(statement, 0);
  }
  sqlite3_finalize(statement);
  return version;
}

Database Database::open(const std::string& path) {
  // SQLite's allocation statistics (sqlite3_memory_used) take a process-wide mutex at every malloc and
  // free; nothing here reads them. Only possible before SQLite's first use, so once, here.
  static const bool statistics_off = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK;
  (void)statistics_off;
  sqlite3* handle = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  Database db(path, handle);  // owns the handle even when open failed
  if (rc != SQLITE_OK) throw DatabaseError("cannot open database '" + path + "': " + sqlite3_errstr(rc), rc & 0xff);
  sqlite3_busy_timeout(handle, 5000);
  db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
  int current = db.schema_version();
  if (current < 0) throw DatabaseError("database '" + path + "' is not a readable SQLite file", SQLITE_NOTADB);
  int newest = schema_migrations().back().version;
  if (current > newest) {
    throw std::runtime_error("database '" + path + "' has schema version " + std::to_string(current) +
                             "; this build knows up to " + std::to_string(newest) + " (a newer modelgate wrote it)");
  }
  for (const Migration& migration : schema_migrations()) {
    if (migration.version <= current) continue;
    db.exec(std::string("BEGIN IMMEDIATE;") + migration.sql + "PRAGMA user_version = " + std::to_string(migration.version) +
            "; COMMIT;");
  }
  return db;
}

}  // namespace mg::pricing
