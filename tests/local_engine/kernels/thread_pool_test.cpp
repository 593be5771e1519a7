#include "local_engine/kernels/thread_pool.h"

#include <atomic>
#include <set>
#include <vector>

#include <gtest/gtest.h>

namespace mg::engine {
namespace {

TEST(ThreadPoolTest, EveryThreadRunsEachJobOnceAndRunWaitsForAll) {
  for (unsigned n_threads : {1u, 2u, 3u, 5u}) {
    ThreadPool pool(n_threads);
    EXPECT_EQ(pool.size(), n_threads);
    std::vector<std::atomic<int>> runs(n_threads);
    for (int job = 0; job < 500; ++job) {  // back to back, as the matrix products of a token are
      pool.run([&](unsigned index, unsigned count) {
        EXPECT_EQ(count, n_threads);
        runs[index].fetch_add(1);
      });
      for (unsigned i = 0; i < n_threads; ++i) ASSERT_EQ(runs[i].load(), job + 1) << "thread " << i << " after job " << job;
    }
  }
}

TEST(ThreadPoolTest, SharesCoverTheRangeOnceInContiguousNearlyEqualParts) {
  for (std::size_t n : {0u, 1u, 7u, 4096u, 32000u}) {
    for (unsigned count : {1u, 2u, 3u, 8u}) {
      std::size_t expected_begin = 0;
      for (unsigned i = 0; i < count; ++i) {
        auto [begin, end] = ThreadPool::share(n, i, count);
        EXPECT_EQ(begin, expected_begin);
        EXPECT_LE(end - begin, n / count + 1);
        expected_begin = end;
      }
      EXPECT_EQ(expected_begin, n);
    }
  }
}

TEST(ThreadPoolTest, WorkersThatSleptWakeForTheNextJob) {
  ThreadPool pool(3);
  std::atomic<int> total{0};
  for (int round = 0; round < 3; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));  // past the spinning: the workers sleep
    pool.run([&](unsigned, unsigned) { total.fetch_add(1); });
  }
  EXPECT_EQ(total.load(), 9);
}

}  // namespace
}  // namespace mg::engine
