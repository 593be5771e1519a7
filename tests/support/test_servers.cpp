#include "tests/support/test_servers.h"

#include <fstream>

#include <gtest/gtest.h>

#include "tests/support/run_command.h"

namespace mg::test {

TestServer::TestServer(Kind kind)
    : script_(std::string(MODELGATE_SOURCE_DIR) + (kind == Kind::postgres ? "/tests/support/postgres_server.sh" : "/tests/support/redis_server.sh")),
      state_file_((dir_.path() / "server.state").string()) {
  EXPECT_TRUE(control("start")) << script_ << " could not start a server";
}

TestServer::~TestServer() { control("stop"); }

bool TestServer::control(const std::string& action) {
  return run_command_with_status(script_ + " " + action + " " + state_file_ + " >&2").exit_code == 0;
}

std::string TestServer::url() const {
  std::ifstream in(state_file_);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("url=")) return line.substr(4);
  }
  return "";
}

}  // namespace mg::test
