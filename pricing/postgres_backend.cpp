#include "pricing/postgres_backend.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <unordered_map>
#include <vector>

#include <libpq-fe.h>

namespace mg::pricing {
namespace {

// Replicas starting together take this advisory lock to migrate one at a time.
constexpr std::int64_t kMigrationLock = 0x6d67'7363'6865'6d61;  // "mgschema"
// Past this many distinct statement texts on one connection, further ones run unprepared (a text built
// per call must not grow the server's memory without bound).
constexpr std::size_t kMaxPreparedStatements = 256;

using ResultPtr = std::unique_ptr<PGresult, decltype(&PQclear)>;

// Class 08 is "connection exception"; 57P01 to 57P03 are the server shutting down or starting up.
bool is_connection_state(const char* sqlstate) {
  if (sqlstate == nullptr) return true;  // no answer at all: the connection broke
  std::string_view state(sqlstate);
  return state.starts_with("08") || state == "57P01" || state == "57P02" || state == "57P03";
}

// The connection and what lives on it: statements prepared there, the row count of the last command.
class Session {
 public:
  Session(std::string shown_location, PGconn* conn) : shown_location_(std::move(shown_location)), conn_(conn) {}
  ~Session() { PQfinish(conn_); }

  // Runs `sql` (PostgreSQL placeholders) with text parameters; throws DatabaseError when refused.
  ResultPtr execute(const std::string& sql, const std::vector<std::optional<std::string>>& parameters) {
    reconnect_if_broken();
    std::vector<const char*> values;
    values.reserve(parameters.size());
    for (const auto& parameter : parameters) values.push_back(parameter ? parameter->c_str() : nullptr);
    const int count = static_cast<int>(values.size());
    const std::string* name = prepared_name(sql);
    ResultPtr result(name ? PQexecPrepared(conn_, name->c_str(), count, values.data(), nullptr, nullptr, 0)
                          : PQexecParams(conn_, sql.c_str(), count, nullptr, values.data(), nullptr, nullptr, 0),
                     &PQclear);
    return checked(std::move(result), sql);
  }

  // Runs one or more statements without parameters.
  void exec(const std::string& sql) {
    reconnect_if_broken();
    checked(ResultPtr(PQexec(conn_, sql.c_str()), &PQclear), sql);
  }

  std::int64_t changes() const { return changes_; }

 private:
  void reconnect_if_broken() {
    if (PQstatus(conn_) == CONNECTION_OK) return;
    prepared_.clear();  // they died with the old connection
    PQreset(conn_);
    if (PQstatus(conn_) != CONNECTION_OK) throw unreachable("cannot reconnect");
  }

  DatabaseError unreachable(const std::string& what) const {
    return DatabaseError(what + " to database '" + shown_location_ + "': " + PQerrorMessage(conn_),
                         "the database server cannot be reached", DatabaseError::Kind::unreachable);
  }

  // The name `sql` is prepared under on this connection, preparing it on first use; nullptr once the
  // cache is full.
  const std::string* prepared_name(const std::string& sql) {
    auto found = prepared_.find(sql);
    if (found != prepared_.end()) return &found->second;
    if (prepared_.size() >= kMaxPreparedStatements) return nullptr;
    std::string name = "mg_" + std::to_string(next_name_++);
    checked(ResultPtr(PQprepare(conn_, name.c_str(), sql.c_str(), 0, nullptr), &PQclear), sql);
    return &prepared_.emplace(sql, std::move(name)).first->second;
  }

  ResultPtr checked(ResultPtr result, const std::string& sql) {
    ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
      const char* rows = PQcmdTuples(result.get());
      changes_ = *rows ? std::atoll(rows) : 0;
      return result;
    }
    const char* sqlstate = result ? PQresultErrorField(result.get(), PG_DIAG_SQLSTATE) : nullptr;
    if (PQstatus(conn_) != CONNECTION_OK || is_connection_state(sqlstate)) throw unreachable("lost the connection");
    const char* primary = PQresultErrorField(result.get(), PG_DIAG_MESSAGE_PRIMARY);
    std::string reason = primary ? primary : "the statement failed";
    throw DatabaseError("database '" + shown_location_ + "': " + reason + " (in '" + sql.substr(0, 80) + "')", reason);
  }

  std::string shown_location_;
  PGconn* conn_;
  std::unordered_map<std::string, std::string> prepared_;  // statement text -> its name on the server
  std::uint64_t next_name_ = 0;
  std::int64_t changes_ = 0;
};

class PostgresStatement final : public StatementBackend {
 public:
  PostgresStatement(Session& session, std::string_view sql) : session_(session), sql_(postgres_placeholders(sql)) {}

  void bind_integer(int index, std::int64_t value) override { slot(index) = std::to_string(value); }
  void bind_real(int index, double value) override {
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", value);
    slot(index) = text;
  }
  void bind_text(int index, std::string_view value, bool) override { slot(index) = std::string(value); }
  void bind_null(int index) override { slot(index).reset(); }

  bool step() override {
    if (!result_) {
      result_ = session_.execute(sql_, parameters_);
      row_ = -1;
    }
    return ++row_ < PQntuples(result_.get());
  }
  void reset() override {
    result_.reset();
    parameters_.clear();
  }

  bool is_null(int column) const override { return PQgetisnull(result_.get(), row_, column) != 0; }
  std::int64_t integer(int column) const override {
    std::string_view value = PQgetvalue(result_.get(), row_, column);
    if (value == "t") return 1;  // a boolean
    std::int64_t number = 0;
    auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (error != std::errc() || end != value.data() + value.size()) return static_cast<std::int64_t>(real(column));
    return number;
  }
  double real(int column) const override { return std::strtod(PQgetvalue(result_.get(), row_, column), nullptr); }
  std::string text(int column) const override {
    return std::string(PQgetvalue(result_.get(), row_, column), static_cast<std::size_t>(PQgetlength(result_.get(), row_, column)));
  }

 private:
  std::optional<std::string>& slot(int index) {
    if (index < 1) throw DatabaseError("parameter index " + std::to_string(index) + " is below 1", "bad parameter index");
    if (parameters_.size() < static_cast<std::size_t>(index)) parameters_.resize(static_cast<std::size_t>(index));
    return parameters_[static_cast<std::size_t>(index - 1)];
  }

  Session& session_;
  std::string sql_;
  std::vector<std::optional<std::string>> parameters_;
  ResultPtr result_{nullptr, &PQclear};
  int row_ = -1;
};

class PostgresConnection final : public Connection {
 public:
  PostgresConnection(std::string shown_location, PGconn* conn) : session_(std::move(shown_location), conn) {}

  Backend backend() const override { return Backend::postgres; }
  void exec(const std::string& sql) override { session_.exec(sql); }
  std::unique_ptr<StatementBackend> prepare(std::string_view sql) override { return std::make_unique<PostgresStatement>(session_, sql); }
  std::int64_t changes() const override { return session_.changes(); }

  int schema_version() override {
    ResultPtr result = session_.execute("SELECT version FROM modelgate_schema", {});
    return PQntuples(result.get()) == 1 ? std::atoi(PQgetvalue(result.get(), 0, 0)) : -1;
  }

  void migrate(const Migration& migration) override {
    session_.exec("BEGIN; SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLock) + ")");
    try {
      if (schema_version() < migration.version) {
        session_.exec(migration.sql(Backend::postgres));
        session_.exec("UPDATE modelgate_schema SET version = " + std::to_string(migration.version));
      }
      session_.exec("COMMIT");
    } catch (const DatabaseError&) {
      session_.exec("ROLLBACK");
      throw;
    }
  }

  // The table of the schema's version, made once whatever the number of replicas starting.
  void create_version_table() {
    session_.exec("SET client_min_messages = warning; BEGIN; SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLock) +
                  "); CREATE TABLE IF NOT EXISTS modelgate_schema (version INTEGER NOT NULL);"
                  " INSERT INTO modelgate_schema SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM modelgate_schema); COMMIT");
  }

 private:
  Session session_;
};

void ignore_notice(void*, const char*) {}

}  // namespace

std::string postgres_placeholders(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  char quote = 0;
  for (char c : sql) {
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '?') {
      c = '$';
    }
    out += c;
  }
  return out;
}

std::unique_ptr<Connection> open_postgres(const std::string& url) {
  // Defaults first: the URL's own parameters override them.
  const char* keywords[] = {"connect_timeout", "tcp_user_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {"5", "15000", "modelgate", url.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, 1);
  const std::string shown = printable_location(url);
  if (conn == nullptr) throw DatabaseError("cannot connect to database '" + shown + "': out of memory", "out of memory");
  PQsetNoticeProcessor(conn, ignore_notice, nullptr);
  auto connection = std::make_unique<PostgresConnection>(shown, conn);  // owns conn from here
  if (PQstatus(conn) != CONNECTION_OK) {
    throw DatabaseError("cannot connect to database '" + shown + "': " + PQerrorMessage(conn), "the database server cannot be reached",
                        DatabaseError::Kind::unreachable);
  }
  connection->create_version_table();
  return connection;
}

}  // namespace mg::pricing
