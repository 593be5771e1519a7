// What constrained decoding plugs into the generation loop: before each sample, a constraint masks the
// tokens that may not come next; after it, it learns which one came.
#pragma once

#include <cstdint>
#include <span>

namespace mg::engine {

// Narrows what the sampler may pick at each step (constrained decoding); may be null.
class TokenConstraint {
 public:
  virtual ~TokenConstraint() = default;
  // Sets the logits of tokens that may not come next to -infinity. False when no token may come next
  // (the constrained output is complete: generation ends as a stop).
  virtual bool mask(std::span<float> logits) = 0;
  virtual void accept(std::int32_t token) = 0;
};

}  // namespace mg::engine
