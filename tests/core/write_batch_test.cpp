// WriteBatch: flushes wait for the outermost batch to close and run in the order they were deferred;
// outside a batch nothing is deferred.
#include "core/write_batch.h"

#include <string>

#include <gtest/gtest.h>

namespace mg {
namespace {

TEST(WriteBatchTest, OutsideABatchNothingIsDeferred) {
  bool ran = false;
  EXPECT_FALSE(WriteBatch::defer([&] { ran = true; }));
  EXPECT_FALSE(ran);
}

TEST(WriteBatchTest, FlushesRunInOrderWhenTheOutermostBatchCloses) {
  std::string log;
  {
    WriteBatch outer;
    EXPECT_TRUE(WriteBatch::defer([&] { log += "a"; }));
    {
      WriteBatch inner;
      EXPECT_TRUE(WriteBatch::defer([&] { log += "b"; }));
    }
    EXPECT_EQ(log, "");  // the inner batch's end is not the end
    log += "-";
  }
  EXPECT_EQ(log, "-ab");
  EXPECT_FALSE(WriteBatch::defer([] {}));  // closed for good
}

// A flush that writes may cause another (a writer that queues more): it runs now, not in a batch gone.
TEST(WriteBatchTest, AFlushThatDefersAgainRunsAtOnce) {
  int runs = 0;
  {
    WriteBatch batch;
    WriteBatch::defer([&] {
      ++runs;
      if (!WriteBatch::defer([&] { ++runs; })) ++runs;
    });
  }
  EXPECT_EQ(runs, 2);
}

}  // namespace
}  // namespace mg
