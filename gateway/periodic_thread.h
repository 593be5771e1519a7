// A thread of its own that runs `tick` every `interval` until destroyed; the destructor wakes it at
// once and waits for a tick in progress. For the background chores that must never run on an I/O thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace mg::gateway {

class PeriodicThread {
 public:
  PeriodicThread(std::string name, std::chrono::milliseconds interval, std::function<void()> tick);
  ~PeriodicThread();
  PeriodicThread(const PeriodicThread&) = delete;
  PeriodicThread& operator=(const PeriodicThread&) = delete;

 private:
  void run();

  const std::chrono::milliseconds interval_;
  const std::function<void()> tick_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace mg::gateway
