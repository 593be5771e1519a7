#include "tests/support/sqlite_lock_holder.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>

extern char** environ;

namespace mg::test {
namespace {

bool write_all(int fd, const std::string& text) {
  std::size_t sent = 0;
  while (sent < text.size()) {
    ssize_t n = ::write(fd, text.data() + sent, text.size() - sent);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads until `marker` appears or 10 s pass.
bool read_until(int fd, const std::string& marker) {
  std::string seen;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (seen.find(marker) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    pollfd ready{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&ready, 1, static_cast<int>(left)) <= 0) return false;
    char buffer[256];
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) return false;
    seen.append(buffer, static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

SqliteLockHolder::SqliteLockHolder(const std::string& db_path) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return;
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    return;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  std::string path = db_path;
  char* argv[] = {const_cast<char*>("sqlite3"), const_cast<char*>("-batch"), path.data(), nullptr};
  int spawned = posix_spawnp(&pid_, "sqlite3", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  to_shell_ = in[1];
  from_shell_ = out[0];
  if (spawned != 0) {
    pid_ = -1;
    return;
  }
  locked_ = write_all(to_shell_, ".timeout 10000\nBEGIN EXCLUSIVE;\nSELECT 'lock' || 'ed';\n") && read_until(from_shell_, "locked");
}

SqliteLockHolder::~SqliteLockHolder() { release(); }

void SqliteLockHolder::release() {
  if (to_shell_ >= 0) {
    write_all(to_shell_, "COMMIT;\n.quit\n");
    ::close(to_shell_);
    to_shell_ = -1;
  }
  if (pid_ > 0) {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  if (from_shell_ >= 0) {
    ::close(from_shell_);
    from_shell_ = -1;
  }
  locked_ = false;
}

}  // namespace mg::test
