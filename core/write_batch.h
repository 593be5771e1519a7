// Groups the client writes that one burst of upstream bytes causes. A read from an upstream often holds
// several stream events (under load, a whole stream); each would otherwise leave in a send of its own,
// or the first alone and the rest after it, where one send carries them all. While a batch is open on a
// thread, a writer defers its flush to the batch's end instead of writing at once. Nothing waits longer
// than the parsing of the bytes already read.
#pragma once

#include <functional>

namespace mg {

class WriteBatch {
 public:
  WriteBatch();
  ~WriteBatch();  // the outermost batch runs the deferred flushes, in order
  WriteBatch(const WriteBatch&) = delete;
  WriteBatch& operator=(const WriteBatch&) = delete;

  // True when a batch is open on this thread and took `flush`, to run when it closes; false: flush now.
  static bool defer(std::function<void()> flush);
};

}  // namespace mg
