#include "local_engine/kernels/thread_pool.h"

#include <pthread.h>

#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MG_CPU_RELAX() _mm_pause()
#else
#define MG_CPU_RELAX() std::this_thread::yield()
#endif

namespace mg::engine {
namespace {

// About 20-50 microseconds of spinning: longer than the gap between two matrix products of one token,
// far shorter than the wait for the next request.
constexpr int kSpinsBeforeSleeping = 20'000;

// Waits until `value` differs from `old`: spins first, then sleeps in the kernel.
template <typename T>
void wait_for_change(const std::atomic<T>& value, T old) {
  for (int i = 0; i < kSpinsBeforeSleeping; ++i) {
    if (value.load(std::memory_order_acquire) != old) return;
    MG_CPU_RELAX();
  }
  while (value.load(std::memory_order_acquire) == old) value.wait(old, std::memory_order_acquire);
}

}  // namespace

ThreadPool::ThreadPool(unsigned n_threads) : n_threads_(n_threads == 0 ? 1 : n_threads) {
  for (unsigned i = 1; i < n_threads_; ++i) {
    workers_.emplace_back([this, i] {
      pthread_setname_np(pthread_self(), ("mg-engine-" + std::to_string(i)).c_str());
      work(i);
    });
  }
}

ThreadPool::~ThreadPool() {
  stopping_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

void ThreadPool::run(const std::function<void(unsigned, unsigned)>& job) {
  if (n_threads_ == 1) return job(0, 1);
  job_ = &job;
  pending_.store(n_threads_ - 1, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  job(0, n_threads_);
  for (unsigned left = pending_.load(std::memory_order_acquire); left != 0; left = pending_.load(std::memory_order_acquire)) {
    wait_for_change(pending_, left);
  }
}

void ThreadPool::work(unsigned index) {
  std::uint64_t seen = 0;
  while (true) {
    wait_for_change(generation_, seen);
    seen = generation_.load(std::memory_order_acquire);
    if (stopping_.load(std::memory_order_acquire)) return;
    (*job_)(index, n_threads_);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
  }
}

}  // namespace mg::engine
