#include "pricing/ledger.h"

#include <filesystem>
#include <optional>
#include <string>
#include <thread>

namespace mg::pricing {
namespace {

constexpr const char* kLedgerColumns =
    "request_id, created_at_ms, api_key_id, requested_model, route, prompt_tokens, completion_tokens, cost_usd, ttft_ms,"
    " duration_ms, status, error_code, routes_tried, stream";

const char* group_expression(UsageGrouping grouping, Backend backend) {
  switch (grouping) {
    case UsageGrouping::model: return "requested_model";
    case UsageGrouping::route: return "route";
    case UsageGrouping::key: return "api_key_id";
    case UsageGrouping::day:
      return backend == Backend::sqlite ? "strftime('%Y-%m-%d', created_at_ms / 1000, 'unixepoch')"
                                        : "to_char(to_timestamp(created_at_ms / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')";
  }
  return "requested_model";
}

constexpr std::size_t kRowsPerInsert = 16;
constexpr std::size_t kParametersPerRow = 14;  // kLedgerColumns

// INSERT of `rows` rows in one statement; row r takes parameters r * 14 + 1 to r * 14 + 14.
std::string insert_sql(const std::string& table, std::size_t rows) {
  std::string sql = "INSERT INTO " + table + "(" + kLedgerColumns + ") VALUES ";
  for (std::size_t row = 0; row < rows; ++row) {
    sql += row == 0 ? "(" : ",(";
    for (std::size_t column = 1; column <= kParametersPerRow; ++column) {
      if (column > 1) sql += ',';
      sql += '?' + std::to_string(row * kParametersPerRow + column);
    }
    sql += ')';
  }
  return sql;
}

// The row's texts are bound without a copy: `row` outlives the statement's run.
void bind_row(Statement& insert, int offset, const LedgerRecord& row) {
  insert.bind_unowned(offset + 1, row.request_id).bind(offset + 2, row.created_at_ms).bind_unowned(offset + 3, row.api_key_id)
      .bind_unowned(offset + 4, row.requested_model).bind_unowned(offset + 5, row.route).bind(offset + 6, row.prompt_tokens)
      .bind(offset + 7, row.completion_tokens).bind(offset + 8, row.cost_usd).bind(offset + 9, row.ttft_ms).bind(offset + 10, row.duration_ms)
      .bind(offset + 11, row.status).bind_unowned(offset + 12, row.error_code).bind_unowned(offset + 13, row.routes_tried_json)
      .bind(offset + 14, row.stream);
}

}  // namespace

Statement& LedgerWriter::statement_for(std::size_t rows) {
  std::optional<Statement>& statement = rows == 1 ? single_ : group_;
  if (!statement) statement.emplace(db_.prepare(insert_sql(table_, rows)));
  return *statement;
}

void LedgerWriter::insert(const std::vector<LedgerRecord>& rows, std::size_t yield_every) {
  Transaction transaction(db_);
  std::size_t since_yield = 0;
  for (std::size_t at = 0; at < rows.size();) {
    if (yield_every > 0 && since_yield >= yield_every) {
      std::this_thread::yield();
      since_yield = 0;
    }
    std::size_t group = rows.size() - at >= kRowsPerInsert ? kRowsPerInsert : 1;
    Statement& insert = statement_for(group);
    for (std::size_t i = 0; i < group; ++i) bind_row(insert, static_cast<int>(i * kParametersPerRow), rows[at + i]);
    insert.run();
    at += group;
    since_yield += group;
  }
  transaction.commit();
}

void insert_ledger_rows(Database& db, const std::vector<LedgerRecord>& rows, std::size_t yield_every) {
  LedgerWriter(db).insert(rows, yield_every);
}

std::int64_t insert_missing_ledger_rows(Database& db, const std::string& source_table) {
  // The time index finds a row's twin cheaply; a request id alone is not indexed.
  db.exec(std::string("INSERT INTO usage_ledger(") + kLedgerColumns + ") SELECT " + kLedgerColumns + " FROM " + source_table +
          " AS s WHERE NOT EXISTS (SELECT 1 FROM usage_ledger AS m"
          " WHERE m.created_at_ms = s.created_at_ms AND m.request_id = s.request_id AND m.duration_ms = s.duration_ms)");
  return db.changes();
}

std::vector<LedgerRecord> read_ledger_rows(const Database& db) {
  Statement query = db.prepare(std::string("SELECT ") + kLedgerColumns + " FROM usage_ledger ORDER BY id");
  std::vector<LedgerRecord> rows;
  while (query.step()) {
    rows.push_back(LedgerRecord{query.text(0), query.integer(1), query.text(2), query.text(3), query.text(4), query.integer(5),
                                query.integer(6), query.real(7), query.optional_real(8), query.real(9), static_cast<int>(query.integer(10)),
                                query.text(11), query.text(12), query.integer(13) != 0});
  }
  return rows;
}

std::int64_t merge_ledger_spill(Database& db, const std::string& spill_path) {
  if (!std::filesystem::exists(spill_path)) return 0;
  std::int64_t merged = 0;
  {
    Database spill = Database::open(spill_path);
    merged = add_missing_ledger_rows(db, read_ledger_rows(spill));
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(spill_path + suffix);
  return merged;
}

std::int64_t add_missing_ledger_rows(Database& db, const std::vector<LedgerRecord>& rows) {
  if (rows.empty()) return 0;
  // A temporary table of the rows, so that one statement finds the missing ones (the same as the spill's).
  db.exec(std::string("CREATE TEMP TABLE IF NOT EXISTS journal_rows AS SELECT ") + kLedgerColumns + " FROM usage_ledger WHERE 1 = 0");
  db.exec("DELETE FROM journal_rows");
  LedgerWriter(db, "journal_rows").insert(rows);
  Transaction transaction(db);
  std::int64_t added = insert_missing_ledger_rows(db, "journal_rows");
  db.exec("DELETE FROM journal_rows");
  transaction.commit();
  return added;
}

std::vector<UsageRow> query_usage(const Database& db, const UsageFilter& filter) {
  std::string sql = std::string("SELECT ") + group_expression(filter.group_by, db.backend()) +
                    " AS usage_group, COUNT(*), SUM(CASE WHEN status >= 400 OR error_code != '' THEN 1 ELSE 0 END), SUM(prompt_tokens),"
                    " SUM(completion_tokens), SUM(cost_usd), AVG(ttft_ms), AVG(duration_ms) FROM usage_ledger"
                    " WHERE (CAST(?1 AS BIGINT) IS NULL OR created_at_ms >= ?1) AND (CAST(?2 AS BIGINT) IS NULL OR created_at_ms < ?2)"
                    " AND (CAST(?3 AS TEXT) IS NULL OR api_key_id = ?3) GROUP BY usage_group ORDER BY SUM(cost_usd) DESC, usage_group";
  Statement query = db.prepare(sql);
  query.bind(1, filter.from_ms).bind(2, filter.to_ms).bind(3, filter.api_key_id);
  std::vector<UsageRow> rows;
  while (query.step()) {
    rows.push_back(UsageRow{query.text(0), query.integer(1), query.integer(2), query.integer(3), query.integer(4), query.real(5),
                            query.optional_real(6), query.real(7)});
  }
  return rows;
}

}  // namespace mg::pricing
