// The keys and values of every sequence the engine holds, in blocks of kKvBlockPositions positions drawn
// from one pool: a memory budget that all sequences share, spent where their tokens are. A sequence is a
// table of blocks. Blocks are reference-counted, so sequences that begin with the same tokens (one system
// prompt, the next turn of a chat) share the full blocks of that prefix instead of computing and storing
// them again; a sequence only ever writes positions past its own prefix, into blocks it alone holds.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "local_engine/model/llama_hparams.h"

namespace mg::engine {

constexpr std::uint32_t kKvBlockPositions = 32;

class KvBlockPool {
 public:
  KvBlockPool(const LlamaHyperParams& p, std::uint32_t n_blocks);

  KvBlockPool(const KvBlockPool&) = delete;
  KvBlockPool& operator=(const KvBlockPool&) = delete;

  // The blocks `n_positions` positions take.
  static std::uint32_t blocks_for(std::uint32_t n_positions) { return (n_positions + kKvBlockPositions - 1) / kKvBlockPositions; }
  // Bytes of one block: every layer's keys and values for kKvBlockPositions positions.
  static std::size_t block_bytes(const LlamaHyperParams& p);

  std::uint32_t n_blocks() const { return static_cast<std::uint32_t>(references_.size()); }
  std::uint32_t n_free() const { return static_cast<std::uint32_t>(free_.size()); }

  // A free block, held once; nullopt when none is left.
  std::optional<std::uint32_t> allocate();
  void retain(std::uint32_t block);
  void release(std::uint32_t block);  // free again when nobody holds it
  std::uint32_t holders(std::uint32_t block) const { return references_[block]; }
  void copy(std::uint32_t from, std::uint32_t to);  // every layer's keys and values

  float* keys(std::uint32_t block, std::uint32_t layer);    // [kKvBlockPositions, n_embd_kv]
  float* values(std::uint32_t block, std::uint32_t layer);  // [n_embd_kv, kKvBlockPositions]: transposed,
                                                            // so a dimension's values are contiguous
  std::uint32_t n_embd_kv() const { return n_embd_kv_; }

 private:
  float* layer_data(std::uint32_t block, std::uint32_t layer) {
    return data_.get() + (static_cast<std::size_t>(block) * n_layer_ + layer) * 2 * kKvBlockPositions * n_embd_kv_;
  }

  std::uint32_t n_layer_;
  std::uint32_t n_embd_kv_;
  // [n_blocks, n_layer, 2 (keys, values), kKvBlockPositions * n_embd_kv], left uninitialised: a page
  // becomes resident when a sequence first writes it, so an idle pool costs address space, not memory.
  std::unique_ptr<float[]> data_;
  std::vector<std::uint32_t> references_;  // [n_blocks] how many sequences hold each block
  std::vector<std::uint32_t> free_;        // blocks nobody holds
};

// One sequence's positions in a pool. Its first n_past() positions hold the keys and values of the
// tokens it has been fed; the forward pass writes the next ones into room made by reserve().
class KvSequence {
 public:
  KvSequence(KvBlockPool& pool, std::uint32_t n_ctx) : pool_(&pool), n_ctx_(n_ctx) {}
  ~KvSequence() { clear(); }
  KvSequence(KvSequence&& other) noexcept;
  KvSequence& operator=(KvSequence&& other) noexcept;
  KvSequence(const KvSequence&) = delete;
  KvSequence& operator=(const KvSequence&) = delete;

  std::uint32_t n_past() const { return n_past_; }
  std::uint32_t n_ctx() const { return n_ctx_; }
  std::uint32_t n_blocks() const { return static_cast<std::uint32_t>(blocks_.size()); }
  std::uint32_t block(std::uint32_t index) const { return blocks_[index]; }
  KvBlockPool& pool() const { return *pool_; }

  // New blocks `count` more positions would take.
  std::uint32_t blocks_needed(std::uint32_t count) const;
  // Makes room for `count` more positions; false, with nothing changed, when the pool lacks the blocks.
  bool reserve(std::uint32_t count);
  // The forward pass has filled the next `count` positions.
  void advance(std::uint32_t count) { n_past_ += count; }
  // Starts this empty sequence as the first `n` positions of `other`: their full blocks shared, a partial
  // last block copied (this sequence will write into it). False, with nothing changed, when no block is
  // free for the copy.
  bool share_prefix(const KvSequence& other, std::uint32_t n);
  // Forgets every position and gives its blocks back.
  void clear();

  float* key_row(std::uint32_t layer, std::uint32_t position) {  // [n_embd_kv]
    return pool_->keys(blocks_[position / kKvBlockPositions], layer) + (position % kKvBlockPositions) * pool_->n_embd_kv();
  }
  float* value_block(std::uint32_t layer, std::uint32_t block_index) {  // [n_embd_kv, kKvBlockPositions]
    return pool_->values(blocks_[block_index], layer);
  }

 private:
  KvBlockPool* pool_;
  std::uint32_t n_ctx_;
  std::uint32_t n_past_ = 0;
  std::vector<std::uint32_t> blocks_;  // [blocks_for(reserved positions)] into pool_
};

}  // namespace mg::engine
