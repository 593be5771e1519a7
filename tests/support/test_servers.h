// A PostgreSQL or Redis server of a test's own, on a free loopback port in a temporary folder, driven by
// tests/support/postgres_server.sh or redis_server.sh: started with the object, stopped and deleted with
// it, and paused, resumed or restarted by the test in between.
#pragma once

#include <string>

#include "tests/support/test_gateway.h"

namespace mg::test {

class TestServer {
 public:
  enum class Kind { postgres, redis };
  explicit TestServer(Kind kind);
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  // Runs the script's `action` (pause, resume, restart; Redis: freeze, thaw); true when it succeeded.
  bool control(const std::string& action);
  std::string url() const;

 private:
  TempDir dir_;
  std::string script_;
  std::string state_file_;
};

}  // namespace mg::test
