#include "local_engine/sampling/stop_strings.h"

#include <algorithm>

namespace mg::engine {

StopStringMatcher::StopStringMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
  std::erase_if(stops_, [](const std::string& stop) { return stop.empty(); });
}

StopStringMatcher::Step StopStringMatcher::feed(std::string_view piece) {
  if (stopped_) return {"", true};
  pending_.append(piece);
  std::size_t first_stop = std::string::npos;
  const std::string* found = nullptr;
  for (const std::string& stop : stops_) {
    std::size_t at = pending_.find(stop);
    if (at < first_stop) {
      first_stop = at;
      found = &stop;
    }
  }
  if (found) {
    stopped_ = true;
    std::string before = pending_.substr(0, first_stop);
    pending_.clear();
    return {std::move(before), true, *found};
  }
  std::size_t held = longest_held_suffix();
  Step step{pending_.substr(0, pending_.size() - held), false};
  pending_.erase(0, pending_.size() - held);
  return step;
}

std::string StopStringMatcher::flush() {
  std::string rest = stopped_ ? std::string() : std::move(pending_);
  pending_.clear();
  return rest;
}

// The longest end of the pending text that is the beginning of some stop string.
std::size_t StopStringMatcher::longest_held_suffix() const {
  std::size_t longest = 0;
  for (const std::string& stop : stops_) {
    for (std::size_t length = std::min(stop.size() - 1, pending_.size()); length > longest; --length) {
      if (std::string_view(pending_).substr(pending_.size() - length) == std::string_view(stop).substr(0, length)) {
        longest = length;
        break;
      }
    }
  }
  return longest;
}

}  // namespace mg::engine
