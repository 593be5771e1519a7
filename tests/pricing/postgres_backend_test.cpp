// The PostgreSQL backend's own behaviour: its SQL translation, replicas migrating one schema at once, and
// a connection the server dropped. Those that need the server run in the suite's "pg." pass.
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "pricing/api_keys.h"
#include "pricing/catalogue.h"
#include "pricing/ledger.h"
#include "pricing/postgres_backend.h"
#include "tests/support/test_gateway.h"

namespace mg {
namespace {

using pricing::Database;
using pricing::Statement;

#define SKIP_UNLESS_POSTGRES() \
  if (!test::testing_postgres()) GTEST_SKIP() << "runs in the suite's pg. pass, against a PostgreSQL server"

TEST(PostgresBackendTest, PlaceholdersBecomeDollarsOutsideQuotes) {
  EXPECT_EQ(pricing::postgres_placeholders("SELECT ?1, '?2', \"a?b\", ?12 WHERE x = ?3"), "SELECT $1, '?2', \"a?b\", $12 WHERE x = $3");
}

TEST(PostgresBackendTest, LogsNeverShowTheUrlsPassword) {
  EXPECT_EQ(pricing::printable_location("postgresql://mg:s3cret@db.internal:5432/modelgate"), "postgresql://mg:***@db.internal:5432/modelgate");
  EXPECT_EQ(pricing::printable_location("postgresql://mg@db/modelgate"), "postgresql://mg@db/modelgate");
  EXPECT_EQ(pricing::printable_location("./modelgate.db"), "./modelgate.db");
}

TEST(PostgresBackendTest, LocalFilesOfAServerDatabaseGoInTheStateDirectory) {
  EXPECT_EQ(pricing::local_file_base("data/modelgate.db", ""), "data/modelgate.db");
  EXPECT_EQ(pricing::local_file_base("data/modelgate.db", "/var/lib/mg"), "/var/lib/mg/modelgate.db");
  EXPECT_EQ(pricing::local_file_base("postgresql://mg:pw@db:5432/gate", "/var/lib/mg"), "/var/lib/mg/modelgate-db_5432_gate");
}

TEST(PostgresBackendTest, ReplicasStartingTogetherMigrateOnce) {
  SKIP_UNLESS_POSTGRES();
  test::TempDir dir;
  const std::string url = test::test_database(dir, "x");
  std::vector<std::thread> replicas;
  std::atomic<int> opened{0};
  for (int i = 0; i < 4; ++i) {
    replicas.emplace_back([&] {
      Database db = Database::open(url);
      opened += db.schema_version() == pricing::schema_migrations().back().version;
    });
  }
  for (std::thread& replica : replicas) replica.join();
  EXPECT_EQ(opened, 4);
  Database db = Database::open(url);
  EXPECT_EQ(pricing::load_catalogue(db).providers.size(), 10u) << "the seed ran once";
}

TEST(PostgresBackendTest, ADroppedConnectionFailsOneStatementAndTheNextReconnects) {
  SKIP_UNLESS_POSTGRES();
  test::TempDir dir;
  const std::string url = test::test_database(dir, "x");
  Database db = Database::open(url);
  Statement pid = db.prepare("SELECT pg_backend_pid()");
  ASSERT_TRUE(pid.step());
  const std::int64_t backend = pid.integer(0);
  pid.reset();
  Database::open(url).prepare("SELECT pg_terminate_backend(?1)").bind(1, backend).run();
  try {
    pricing::load_catalogue(db);
    ADD_FAILURE() << "a statement on the dropped connection succeeded";
  } catch (const pricing::DatabaseError& e) {
    EXPECT_TRUE(e.unreachable()) << e.what();
    EXPECT_EQ(e.reason().find("127.0.0.1"), std::string::npos) << "the reason may be shown: no address in it";
  }
  EXPECT_EQ(pricing::load_catalogue(db).routes.size(), 7u) << "the next statement runs on a new connection";
}

TEST(PostgresBackendTest, TriggersKeepPriceHistoryAndVersionsAsOnSqlite) {
  SKIP_UNLESS_POSTGRES();
  test::TempDir dir;
  Database db = Database::open(test::test_database(dir, "x"));
  const std::int64_t catalogue = pricing::catalogue_version(db), keys = pricing::keys_version(db);
  ASSERT_TRUE(pricing::set_route_price(db, "mistral-7b-instruct", "openrouter", 0.5, 0.6));
  EXPECT_GT(pricing::catalogue_version(db), catalogue);
  Statement history = db.prepare("SELECT usd_per_mtok_input, usd_per_mtok_output FROM price_history");
  ASSERT_TRUE(history.step());
  EXPECT_DOUBLE_EQ(history.real(0), 0.5);
  EXPECT_DOUBLE_EQ(history.real(1), 0.6);
  history.reset();
  const std::int64_t measured = pricing::catalogue_version(db);
  db.exec("UPDATE routes SET measured_ttft_ms = 12.5");
  EXPECT_EQ(pricing::catalogue_version(db), measured) << "measured figures are not a catalogue edit";
  pricing::insert_api_key(db, pricing::ApiKeyRecord{"k1", "team", "sha", 1, std::nullopt, {}});
  EXPECT_GT(pricing::keys_version(db), keys);
}

TEST(PostgresBackendTest, UsageByDayMatchesSqlite) {
  SKIP_UNLESS_POSTGRES();
  test::TempDir dir;
  Database postgres = Database::open(test::test_database(dir, "x"));
  Database sqlite = Database::open((dir.path() / "same.db").string());
  std::vector<pricing::LedgerRecord> rows;
  for (int i = 0; i < 40; ++i) {
    pricing::LedgerRecord row;
    row.request_id = "r" + std::to_string(i);
    row.created_at_ms = 1'700'000'000'000 + i * 7'200'000LL;  // two hours apart: four days
    row.requested_model = i % 3 ? "a" : "b";
    row.cost_usd = i * 0.001;
    row.status = i % 5 ? 200 : 502;
    row.duration_ms = 10 + i;
    if (i % 4) row.ttft_ms = 5.0 + i;
    rows.push_back(row);
  }
  pricing::insert_ledger_rows(postgres, rows);
  pricing::insert_ledger_rows(sqlite, rows);
  for (auto grouping : {pricing::UsageGrouping::day, pricing::UsageGrouping::model}) {
    pricing::UsageFilter filter{1'700'000'000'000 + 3'600'000, std::nullopt, grouping, std::nullopt};
    std::vector<pricing::UsageRow> expected = pricing::query_usage(sqlite, filter), got = pricing::query_usage(postgres, filter);
    ASSERT_EQ(got.size(), expected.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].group, expected[i].group);
      EXPECT_EQ(got[i].requests, expected[i].requests);
      EXPECT_EQ(got[i].failed_requests, expected[i].failed_requests);
      EXPECT_NEAR(got[i].cost_usd, expected[i].cost_usd, 1e-12);
      EXPECT_NEAR(got[i].average_ttft_ms.value_or(-1), expected[i].average_ttft_ms.value_or(-1), 1e-9);
    }
  }
  EXPECT_EQ(pricing::add_missing_ledger_rows(postgres, rows), 0) << "the journal's replay finds every row already there";
}

}  // namespace
}  // namespace mg
