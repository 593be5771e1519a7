// Stop strings over streamed text: a stop may arrive split across several tokens, so text that could be
// the start of a stop is held back until it is known not to be; the stop itself is never emitted.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mg::engine {

class StopStringMatcher {
 public:
  explicit StopStringMatcher(std::vector<std::string> stops);

  struct Step {
    std::string text;      // safe to send now
    bool stopped = false;  // a stop string was found; `text` is everything before it
    std::string stop{};    // which one (the earliest in the text; the first listed of those found there)
  };

  // Takes the next piece of generated text.
  Step feed(std::string_view piece);
  // At the end of generation: what is still held back (it did not turn into a stop).
  std::string flush();

 private:
  std::size_t longest_held_suffix() const;

  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace mg::engine
