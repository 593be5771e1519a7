#include "tests/support/gateway_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <regex>
#include <stdexcept>

#include "tests/support/proc_status.h"

namespace mg::test {

using namespace std::chrono_literals;

GatewayProcess::GatewayProcess(const std::string& binary, const std::string& config_path) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
  pid_ = ::fork();
  if (pid_ == 0) {
    ::dup2(pipe_fds[1], STDERR_FILENO);
    ::close(pipe_fds[0]);
    ::execl(binary.c_str(), binary.c_str(), "serve", "--config", config_path.c_str(), static_cast<char*>(nullptr));
    std::_Exit(127);
  }
  ::close(pipe_fds[1]);
  reader_ = std::thread([this, fd = pipe_fds[0]] { drain(fd); });
}

GatewayProcess::~GatewayProcess() {
  kill_now();
  reader_.join();
}

std::uint16_t GatewayProcess::wait_for_port(std::chrono::seconds timeout) {
  std::unique_lock lock(mutex_);
  std::smatch match;
  static const std::regex listening("listening on http://[^:]+:([0-9]+)");
  changed_.wait_for(lock, timeout, [&] { return std::regex_search(log_, match, listening) || closed_; });
  return match.empty() ? 0 : static_cast<std::uint16_t>(std::stoi(match[1]));
}

long GatewayProcess::resident_kib() const { return test::proc_status_kib(std::to_string(pid_), "VmRSS"); }

int GatewayProcess::stop(std::chrono::seconds timeout) {
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(20ms);
  }
  return -1;
}

void GatewayProcess::kill_now() {
  if (pid_ <= 0 || exited_) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  exited_ = true;
}

std::string GatewayProcess::log() const {
  std::lock_guard lock(mutex_);
  return log_;
}

void GatewayProcess::drain(int fd) {
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0) {
    std::lock_guard lock(mutex_);
    if (log_.size() < (1 << 20)) log_.append(buffer, static_cast<std::size_t>(n));
    changed_.notify_all();
  }
  ::close(fd);
  std::lock_guard lock(mutex_);
  closed_ = true;
  changed_.notify_all();
}

}  // namespace mg::test
