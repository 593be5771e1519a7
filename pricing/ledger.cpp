#include "pricing/ledger.h"

#include <filesystem>
#include <thread>

#include <sqlite3.h>

namespace mg::pricing {
namespace {

constexpr const char* kLedgerColumns =
    "request_id, created_at_ms, api_key_id, requested_model, route, prompt_tokens, completion_tokens, cost_usd, ttft_ms,"
    " duration_ms, status, error_code, routes_tried, stream";

const char* group_expression(UsageGrouping grouping) {
  switch (grouping) {
    case UsageGrouping::model: return "requested_model";
    case UsageGrouping::route: return "route";
    case UsageGrouping::key: return "api_key_id";
    case UsageGrouping::day: return "strftime('%Y-%m-%d', created_at_ms / 1000, 'unixepoch')";
  }
  return "requested_model";
}

}  // namespace

void insert_ledger_rows(Database& db, const std::vector<LedgerRecord>& rows, std::size_t yield_every) {
  Transaction transaction(db);
  Statement insert = db.prepare(std::string("INSERT INTO usage_ledger(") + kLedgerColumns +
                                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)");
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (yield_every > 0 && i > 0 && i % yield_every == 0) std::this_thread::yield();
    const LedgerRecord& row = rows[i];
    insert.bind(1, row.request_id).bind(2, row.created_at_ms).bind(3, row.api_key_id).bind(4, row.requested_model).bind(5, row.route)
        .bind(6, row.prompt_tokens).bind(7, row.completion_tokens).bind(8, row.cost_usd).bind(9, row.ttft_ms).bind(10, row.duration_ms)
        .bind(11, row.status).bind(12, row.error_code).bind(13, row.routes_tried_json).bind(14, row.stream);
    insert.run();
  }
  transaction.commit();
}

std::int64_t merge_ledger_spill(Database& db, const std::string& spill_path) {
  if (!std::filesystem::exists(spill_path)) return 0;
  db.prepare("ATTACH DATABASE ?1 AS spill").bind(1, spill_path).run();
  std::int64_t merged = 0;
  try {
    Transaction transaction(db);
    // The time index finds a row's twin cheaply; a request id alone is not indexed.
    db.exec(std::string("INSERT INTO main.usage_ledger(") + kLedgerColumns + ") SELECT " + kLedgerColumns +
            " FROM spill.usage_ledger AS s WHERE NOT EXISTS (SELECT 1 FROM main.usage_ledger AS m"
            " WHERE m.created_at_ms = s.created_at_ms AND m.request_id = s.request_id)");
    merged = sqlite3_changes64(db.handle());
    db.exec("DELETE FROM spill.usage_ledger");
    transaction.commit();
  } catch (...) {
    db.exec("DETACH DATABASE spill");
    throw;
  }
  db.exec("DETACH DATABASE spill");
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(spill_path + suffix);
  return merged;
}

std::vector<UsageRow> query_usage(const Database& db, const UsageFilter& filter) {
  std::string sql = std::string("SELECT ") + group_expression(filter.group_by) +
                    " AS grouping, COUNT(*), SUM(status >= 400 OR error_code != ''), SUM(prompt_tokens), SUM(completion_tokens),"
                    " SUM(cost_usd), AVG(ttft_ms), AVG(duration_ms) FROM usage_ledger"
                    " WHERE (?1 IS NULL OR created_at_ms >= ?1) AND (?2 IS NULL OR created_at_ms < ?2)"
                    " GROUP BY grouping ORDER BY SUM(cost_usd) DESC, grouping";
  Statement query = db.prepare(sql);
  query.bind(1, filter.from_ms).bind(2, filter.to_ms);
  std::vector<UsageRow> rows;
  while (query.step()) {
    rows.push_back(UsageRow{query.text(0), query.integer(1), query.integer(2), query.integer(3), query.integer(4), query.real(5),
                            query.optional_real(6), query.real(7)});
  }
  return rows;
}

}  // namespace mg::pricing
