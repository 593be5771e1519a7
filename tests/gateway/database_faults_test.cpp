// The gateway's SQLite file misbehaving under a running gateway: locked by another process, a full disk,
// and a damaged file at start. Answers keep coming, /health says what is wrong, and every ledger row
// lands once the database takes writes again; a damaged file stops the start with what to do about it.
#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/support/sqlite_lock_holder.h"
#include "tests/support/test_gateway.h"

namespace mg::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

void expect_answers(TestGateway& server, int count) {
  for (int i = 0; i < count; ++i) {
    auto answer = server.post("/v1/chat/completions", chat_body("echo", "request " + std::to_string(i)));
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->status, 200) << answer->body;
  }
}

json wait_for_failing_ledger(TestGateway& server) {
  // The first attempt waits out SQLite's busy timeout (5 s) before it counts as failed.
  return server.wait_for_health([](const json& h) { return h.contains("ledger") && h["ledger"]["failing"] == true; }, 15s);
}

TEST(DatabaseFaultsTest, AnotherProcessLockingTheDatabaseDelaysTheLedgerButNoAnswer) {
  SKIP_UNLESS_SQLITE();
  TestGateway server;
  SqliteLockHolder lock(server.config().db_path);
  ASSERT_TRUE(lock.locked()) << "the sqlite3 shell could not take the lock";

  expect_answers(server, 8);
  json health = wait_for_failing_ledger(server);
  EXPECT_EQ(health["status"], "degraded") << health.dump();
  EXPECT_EQ(health["ledger"]["pending_rows"], 8) << health.dump();
  EXPECT_NE(health["ledger"]["error"].get<std::string>().find("locked"), std::string::npos) << health.dump();
  expect_answers(server, 2);  // still answering while degraded

  lock.release();
  EXPECT_EQ(ledger_rows(server.gateway(), server.config().db_path).size(), 10u);
  health = server.health();
  EXPECT_EQ(health["status"], "ok") << health.dump();
  EXPECT_EQ(health["ledger"]["rows_lost"], 0);
}

// A tmpfs of its own, unmounted with the object; needs the privilege to mount (root, as in CI).
class SmallDisk {
 public:
  SmallDisk() {
    std::filesystem::create_directories(dir_.path() / "disk");
    if (::mount("tmpfs", path().c_str(), "tmpfs", 0, "size=4m") == 0) mounted_ = true;
    else why_not_ = std::strerror(errno);
  }
  ~SmallDisk() {
    if (mounted_) ::umount2(path().c_str(), MNT_DETACH);
  }
  std::filesystem::path path() const { return dir_.path() / "disk"; }
  bool mounted() const { return mounted_; }
  const std::string& why_not() const { return why_not_; }

  // Writes a file until the disk refuses another byte.
  void fill() {
    std::ofstream filler(path() / "filler", std::ios::binary);
    const std::string block(4096, 'x');
    while (filler.write(block.data(), static_cast<std::streamsize>(block.size())) && filler.flush()) {
    }
  }
  void free_space() { std::filesystem::remove(path() / "filler"); }

 private:
  TempDir dir_;
  bool mounted_ = false;
  std::string why_not_;
};

TEST(DatabaseFaultsTest, AFullDiskKeepsServingAndTheLedgerCatchesUpWhenSpaceReturns) {
  SmallDisk disk;
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (" << disk.why_not() << "); run as root";
  std::string db_path = (disk.path() / "gateway.db").string();
  TestGateway server([&](gateway::ServerConfig& config) { config.db_path = db_path; });

  disk.fill();
  expect_answers(server, 8);
  json health = wait_for_failing_ledger(server);
  EXPECT_EQ(health["status"], "degraded") << health.dump();
  EXPECT_NE(health["ledger"]["error"].get<std::string>().find("full"), std::string::npos) << health.dump();

  disk.free_space();
  EXPECT_EQ(ledger_rows(server.gateway(), db_path).size(), 8u);
  EXPECT_EQ(server.health()["ledger"]["rows_lost"], 0);
}

std::string start_error(const std::string& db_path) {
  gateway::ServerConfig config = test_server_config();
  config.db_path = db_path;
  gateway::Gateway gateway(config);
  Status started = gateway.start();
  return started ? "" : started.error().message;
}

TEST(DatabaseFaultsTest, AFileThatIsNotADatabaseStopsTheStartWithWhatToDo) {
  TempDir dir;
  std::string db_path = (dir.path() / "modelgate.db").string();
  std::ofstream(db_path) << std::string(8192, '\x5a');
  std::string error = start_error(db_path);
  EXPECT_NE(error.find("not a database"), std::string::npos) << error;
  EXPECT_NE(error.find("'" + db_path + "' is damaged"), std::string::npos) << error;
  EXPECT_NE(error.find(".recover"), std::string::npos) << error;
}

// A sound header over damaged pages: found when the catalogue is read.
TEST(DatabaseFaultsTest, ADatabaseWithDamagedPagesStopsTheStartWithWhatToDo) {
  TempDir dir;
  std::string db_path = (dir.path() / "modelgate.db").string();
  {
    TestGateway first([&](gateway::ServerConfig& config) { config.db_path = db_path; });  // a real database, then stopped
  }
  std::filesystem::remove(db_path + "-wal");
  {
    std::fstream file(db_path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(4096);  // page 2 onwards: the tables' b-trees
    const std::string noise(std::filesystem::file_size(db_path) - 4096, '\x5a');
    file.write(noise.data(), static_cast<std::streamsize>(noise.size()));
  }
  std::string error = start_error(db_path);
  EXPECT_NE(error.find("malformed"), std::string::npos) << error;
  EXPECT_NE(error.find("is damaged"), std::string::npos) << error;
}

}  // namespace
}  // namespace mg::test
