#include "core/write_batch.h"

#include <utility>
#include <vector>

namespace mg {
namespace {

thread_local int open_batches = 0;
thread_local std::vector<std::function<void()>> deferred_flushes;

}  // namespace

WriteBatch::WriteBatch() { ++open_batches; }

WriteBatch::~WriteBatch() {
  if (--open_batches > 0) return;
  std::vector<std::function<void()>> flushes;
  flushes.swap(deferred_flushes);
  for (auto& flush : flushes) flush();
}

bool WriteBatch::defer(std::function<void()> flush) {
  if (open_batches == 0) return false;
  deferred_flushes.push_back(std::move(flush));
  return true;
}

}  // namespace mg
