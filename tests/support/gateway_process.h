// `modelgate serve` as a child process, for the tests that drive the built binary (the soak, the crash
// test): its stderr is drained by a thread so logging never blocks it, and kept for the test to read.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace mg::test {

class GatewayProcess {
 public:
  GatewayProcess(const std::string& binary, const std::string& config_path);
  ~GatewayProcess();  // SIGKILLs it if it still runs
  GatewayProcess(const GatewayProcess&) = delete;
  GatewayProcess& operator=(const GatewayProcess&) = delete;

  // The port from the "listening on" log line, or 0 when it does not come.
  std::uint16_t wait_for_port(std::chrono::seconds timeout);
  // VmRSS in KiB, from /proc.
  long resident_kib() const;
  // SIGTERM, then the exit status (-1 if it did not exit in time or not normally).
  int stop(std::chrono::seconds timeout);
  // SIGKILL, as the OOM killer or a crash would end it; returns once it is gone.
  void kill_now();
  std::string log() const;

 private:
  void drain(int fd);

  pid_t pid_ = -1;
  bool exited_ = false;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::string log_;
  bool closed_ = false;
};

}  // namespace mg::test
