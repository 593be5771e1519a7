#include "pricing/database.h"

#include <fstream>

#include <sqlite3.h>

#include <gtest/gtest.h>

#include "tests/support/test_gateway.h"

namespace mg::pricing {
namespace {

TEST(DatabaseTest, CreatesAndMigratesOnFirstOpenAndReopensIdempotently) {
  test::TempDir dir;
  std::string path = (dir.path() / "gateway.db").string();
  int newest = schema_migrations().back().version;
  {
    Database db = Database::open(path);
    EXPECT_EQ(db.schema_version(), newest);
  }
  Database again = Database::open(path);
  EXPECT_EQ(again.schema_version(), newest);
}

// SQLite's allocation statistics cost a process-wide mutex at every allocation; the gateway turns them off
// before its first database. sqlite3_memory_used() stays 0 while they are off.
TEST(DatabaseTest, SqliteKeepsNoAllocationStatistics) {
  test::TempDir dir;
  Database db = Database::open((dir.path() / "gateway.db").string());
  db.exec("CREATE TABLE t(x); INSERT INTO t VALUES (randomblob(100000));");
  EXPECT_EQ(sqlite3_memory_used(), 0);
}

TEST(DatabaseTest, CorruptFileIsAClearError) {
  test::TempDir dir;
  std::string path = (dir.path() / "corrupt.db").string();
  std::ofstream(path) << std::string(8192, 'Z');
  try {
    Database::open(path);
    FAIL() << "a corrupt file opened";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(DatabaseTest, RefusesASchemaFromTheFuture) {
  test::TempDir dir;
  std::string path = (dir.path() / "future.db").string();
  Database::open(path).exec("PRAGMA user_version = 999");
  try {
    Database::open(path);
    FAIL() << "opened a newer schema";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("schema version 999"), std::string::npos) << e.what();
  }
}

TEST(DatabaseTest, UnwritableLocationIsAClearError) {
  EXPECT_THROW(Database::open("/nonexistent-dir/x/gateway.db"), std::runtime_error);
}

}  // namespace
}  // namespace mg::pricing
