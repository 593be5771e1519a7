#include "pricing/database.h"

#include <cctype>
#include <filesystem>

#include "pricing/postgres_backend.h"
#include "pricing/sqlite_backend.h"

namespace mg::pricing {

bool is_postgres_location(std::string_view location) {
  return location.starts_with("postgresql://") || location.starts_with("postgres://");
}

std::string printable_location(std::string_view location) {
  if (!is_postgres_location(location)) return std::string(location);
  std::size_t authority = location.find("//") + 2;
  std::size_t at = location.find('@', authority);
  std::size_t colon = location.find(':', authority);
  if (at == std::string_view::npos || colon == std::string_view::npos || colon > at) return std::string(location);
  return std::string(location.substr(0, colon + 1)) + "***" + std::string(location.substr(at));
}

std::string local_file_base(const std::string& location, const std::string& state_dir) {
  std::string dir = state_dir.empty() ? "" : state_dir + "/";
  if (!is_postgres_location(location)) {
    return state_dir.empty() ? location : dir + std::filesystem::path(location).filename().string();
  }
  // postgresql://user@host:port/dbname?options: the host, port, database name and options, as a file name.
  std::string_view rest = std::string_view(location).substr(location.find("//") + 2);
  if (std::size_t at = rest.rfind('@'); at != std::string_view::npos) rest = rest.substr(at + 1);
  std::string name = "modelgate-";
  for (char c : rest) name += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_';
  return dir + name;
}

Database::Database(std::string location, std::unique_ptr<Connection> connection)
    : location_(std::move(location)), connection_(std::move(connection)) {}

Database::~Database() = default;

Transaction::Transaction(Database& db) : db_(db) { db_.exec(db.backend() == Backend::sqlite ? "BEGIN IMMEDIATE" : "BEGIN"); }

Transaction::~Transaction() {
  if (committed_) return;
  try {
    db_.exec("ROLLBACK");
  } catch (const DatabaseError&) {
    // A broken connection has no transaction left to roll back; the error that got us here is the one to tell.
  }
}

void Transaction::commit() {
  db_.exec("COMMIT");
  committed_ = true;
}

std::int64_t Database::meta_counter(std::string_view key) const {
  Statement query = prepare("SELECT CAST(value AS BIGINT) FROM gateway_meta WHERE key = ?1");
  query.bind(1, key);
  return query.step() ? query.integer(0) : 0;
}

Database Database::open(const std::string& location) {
  std::unique_ptr<Connection> connection = is_postgres_location(location) ? open_postgres(location) : open_sqlite(location);
  const std::string shown = printable_location(location);
  int current = connection->schema_version();
  int newest = schema_migrations().back().version;
  if (current > newest) {
    throw DatabaseError("database '" + shown + "' has schema version " + std::to_string(current) + "; this build knows up to " +
                            std::to_string(newest) + " (a newer modelgate wrote it)",
                        "the database has a newer schema than this build knows");
  }
  for (const Migration& migration : schema_migrations()) {
    if (migration.version > current) connection->migrate(migration);
  }
  return Database(location, std::move(connection));
}

}  // namespace mg::pricing
