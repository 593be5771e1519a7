// The usage ledger: one row per request that reached a completion endpoint, success or not, written in
// batches by the UsageRecorder, and the aggregate queries behind GET /v1/usage and `modelgate usage`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pricing/database.h"

namespace mg::pricing {

struct LedgerRecord {
  std::string request_id;
  std::int64_t created_at_ms = 0;  // arrival, Unix milliseconds
  std::string api_key_id;
  std::string requested_model;
  std::string route;  // provider/model that answered; '' when none did
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  double cost_usd = 0;
  std::optional<double> ttft_ms;  // arrival to the first token sent
  double duration_ms = 0;
  int status = 0;  // HTTP status the client got
  std::string error_code;
  std::string routes_tried_json = "[]";
  bool stream = false;

  bool operator==(const LedgerRecord&) const = default;
};

// Writes ledger rows sixteen to an INSERT, through statements prepared once: preparing that INSERT
// costs more than the rows of a batch cost to insert.
class LedgerWriter {
 public:
  // `table`: the ledger itself, or a table of the same columns (the journal's replay fills a temporary one).
  explicit LedgerWriter(Database& db, std::string table = "usage_ledger") : db_(db), table_(std::move(table)) {}

  // Inserts the rows in one transaction; all or none. With `yield_every` > 0 the calling thread gives
  // up its core after every so many rows (inside the transaction): a thread the scheduler queued behind
  // it then waits for that slice of the batch, not for all of it.
  void insert(const std::vector<LedgerRecord>& rows, std::size_t yield_every = 0);

 private:
  Statement& statement_for(std::size_t rows);

  Database& db_;
  std::string table_;
  std::optional<Statement> single_;
  std::optional<Statement> group_;
};

// LedgerWriter(db).insert(rows, yield_every), for a one-off write.
void insert_ledger_rows(Database& db, const std::vector<LedgerRecord>& rows, std::size_t yield_every = 0);

// Copies into the ledger the rows of `source_table` (a temporary table of the ledger's columns) that it
// does not hold yet, inside the caller's transaction; returns how many. The
// one test of "already there" for every second copy of a row (the spill file, the crash journal): same
// arrival millisecond, request id and duration, which a client reusing its request ids does not repeat.
std::int64_t insert_missing_ledger_rows(Database& db, const std::string& source_table);

// Every row of `db`'s ledger, oldest first.
std::vector<LedgerRecord> read_ledger_rows(const Database& db);

// Moves the ledger rows of the SQLite file at `spill_path` (written with insert_ledger_rows) into `db`,
// skipping rows already there so that a merge cut short is safe to repeat, then deletes the file.
// Returns the rows added; 0 when there is no such file.
std::int64_t merge_ledger_spill(Database& db, const std::string& spill_path);

// Adds to the ledger, in one transaction, those of `rows` it does not hold yet (insert_missing_ledger_rows);
// returns how many. Throws when the database refuses, having added none.
std::int64_t add_missing_ledger_rows(Database& db, const std::vector<LedgerRecord>& rows);

enum class UsageGrouping { model, route, key, day };

struct UsageFilter {
  std::optional<std::int64_t> from_ms;  // inclusive
  std::optional<std::int64_t> to_ms;    // exclusive
  UsageGrouping group_by = UsageGrouping::model;
  std::optional<std::string> api_key_id;  // one key's rows only
};

struct UsageRow {
  std::string group;  // the model, route, key id or day (YYYY-MM-DD, UTC)
  std::int64_t requests = 0;
  std::int64_t failed_requests = 0;  // status >= 400 or an error after the first byte
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  double cost_usd = 0;
  std::optional<double> average_ttft_ms;
  double average_duration_ms = 0;
};

std::vector<UsageRow> query_usage(const Database& db, const UsageFilter& filter);

}  // namespace mg::pricing
