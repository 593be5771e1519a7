#include "local_engine/model/kv_cache.h"

#include <algorithm>
#include <cassert>
#include <stdexcept>
#include <string>

namespace mg::engine {

std::size_t KvBlockPool::block_bytes(const LlamaHyperParams& p) {
  return static_cast<std::size_t>(p.n_layer) * 2 * kKvBlockPositions * p.n_embd_kv() * sizeof(float);
}

KvBlockPool::KvBlockPool(const LlamaHyperParams& p, std::uint32_t n_blocks) : n_layer_(p.n_layer), n_embd_kv_(p.n_embd_kv()) {
  if (n_blocks == 0) throw std::invalid_argument("a KV cache pool needs at least one block");
  data_.reset(new float[static_cast<std::size_t>(n_blocks) * n_layer_ * 2 * kKvBlockPositions * n_embd_kv_]);
  references_.assign(n_blocks, 0);
  free_.resize(n_blocks);
  // Handed out from the back: block 0 first, so a lone sequence fills memory front to back.
  for (std::uint32_t i = 0; i < n_blocks; ++i) free_[i] = n_blocks - 1 - i;
}

std::optional<std::uint32_t> KvBlockPool::allocate() {
  if (free_.empty()) return std::nullopt;
  std::uint32_t block = free_.back();
  free_.pop_back();
  references_[block] = 1;
  return block;
}

void KvBlockPool::retain(std::uint32_t block) {
  assert(references_[block] > 0);
  ++references_[block];
}

void KvBlockPool::release(std::uint32_t block) {
  assert(references_[block] > 0);
  if (--references_[block] == 0) free_.push_back(block);
}

void KvBlockPool::copy(std::uint32_t from, std::uint32_t to) {
  const std::size_t floats = static_cast<std::size_t>(n_layer_) * 2 * kKvBlockPositions * n_embd_kv_;  // a block's layers are contiguous
  std::copy_n(layer_data(from, 0), floats, layer_data(to, 0));
}

float* KvBlockPool::keys(std::uint32_t block, std::uint32_t layer) { return layer_data(block, layer); }

float* KvBlockPool::values(std::uint32_t block, std::uint32_t layer) {
  return layer_data(block, layer) + static_cast<std::size_t>(kKvBlockPositions) * n_embd_kv_;
}

KvSequence::KvSequence(KvSequence&& other) noexcept
    : pool_(other.pool_), n_ctx_(other.n_ctx_), n_past_(other.n_past_), blocks_(std::move(other.blocks_)) {
  other.blocks_.clear();
  other.n_past_ = 0;
}

KvSequence& KvSequence::operator=(KvSequence&& other) noexcept {
  if (this == &other) return *this;
  clear();
  pool_ = other.pool_;
  n_ctx_ = other.n_ctx_;
  n_past_ = other.n_past_;
  blocks_ = std::move(other.blocks_);
  other.blocks_.clear();
  other.n_past_ = 0;
  return *this;
}

std::uint32_t KvSequence::blocks_needed(std::uint32_t count) const {
  std::uint32_t wanted = KvBlockPool::blocks_for(n_past_ + count);
  return wanted > n_blocks() ? wanted - n_blocks() : 0;
}

bool KvSequence::reserve(std::uint32_t count) {
  if (n_past_ + count > n_ctx_) {
    throw std::length_error(std::to_string(count) + " tokens do not fit: " + std::to_string(n_past_) + " of the context's " +
                            std::to_string(n_ctx_) + " positions are used");
  }
  std::uint32_t needed = blocks_needed(count);
  if (needed > pool_->n_free()) return false;
  for (std::uint32_t i = 0; i < needed; ++i) blocks_.push_back(*pool_->allocate());
  return true;
}

bool KvSequence::share_prefix(const KvSequence& other, std::uint32_t n) {
  assert(blocks_.empty() && pool_ == other.pool_ && n <= other.n_past_ && n <= n_ctx_);
  const std::uint32_t full = n / kKvBlockPositions;
  const bool partial = n % kKvBlockPositions != 0;
  std::optional<std::uint32_t> copy;
  if (partial && !(copy = pool_->allocate())) return false;
  for (std::uint32_t i = 0; i < full; ++i) {
    pool_->retain(other.blocks_[i]);
    blocks_.push_back(other.blocks_[i]);
  }
  if (copy) {
    pool_->copy(other.blocks_[full], *copy);
    blocks_.push_back(*copy);
  }
  n_past_ = n;
  return true;
}

void KvSequence::clear() {
  for (std::uint32_t block : blocks_) pool_->release(block);
  blocks_.clear();
  n_past_ = 0;
}

}  // namespace mg::engine
