// A fixed set of worker threads for the engine's parallel loops. run() hands one job to every thread
// (the caller is thread 0) and returns when all have finished it. A job is a few microseconds to a few
// milliseconds of work (one matrix product of one token), so waking the workers must cost far less than
// that: they spin briefly on a generation counter before sleeping on it (futex-backed atomic wait).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

namespace mg::engine {

class ThreadPool {
 public:
  // `n_threads` threads in all, the caller's included (1: no workers, run() calls the job inline).
  explicit ThreadPool(unsigned n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  unsigned size() const { return n_threads_; }

  // job(thread_index, n_threads) on every thread at once. Not reentrant: one run() at a time.
  void run(const std::function<void(unsigned, unsigned)>& job);

  // Thread `index` of `count`'s share of [0, n): contiguous, sizes differing by at most one.
  static std::pair<std::size_t, std::size_t> share(std::size_t n, unsigned index, unsigned count) {
    return {n * index / count, n * (index + 1) / count};
  }

 private:
  void work(unsigned index);

  unsigned n_threads_;
  const std::function<void(unsigned, unsigned)>* job_ = nullptr;
  std::atomic<std::uint64_t> generation_{0};  // bumped once per run(); workers wait for it to move
  std::atomic<unsigned> pending_{0};          // workers still on the current job
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> workers_;
};

}  // namespace mg::engine
