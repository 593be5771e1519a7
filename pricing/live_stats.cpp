#include "pricing/live_stats.h"

#include <algorithm>
#include <cmath>

namespace mg::pricing {
namespace {

double fraction_of(Percentile percentile) {
  switch (percentile) {
    case Percentile::p50: return 0.50;
    case Percentile::p75: return 0.75;
    case Percentile::p90: return 0.90;
    case Percentile::p99: return 0.99;
  }
  return 0.5;
}

// Nearest-rank percentile of a copy of the window.
std::optional<double> percentile_of(std::deque<double> values, Percentile percentile) {
  if (values.empty()) return std::nullopt;
  std::size_t rank = static_cast<std::size_t>(std::ceil(fraction_of(percentile) * static_cast<double>(values.size())));
  std::size_t index = std::min(values.size() - 1, rank == 0 ? 0 : rank - 1);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(index), values.end());
  return values[index];
}

void blend(std::optional<double>& average, double sample, double alpha) {
  average = average ? alpha * sample + (1 - alpha) * *average : sample;
}

void push_bounded(std::deque<double>& window, double value, std::size_t limit) {
  window.push_back(value);
  if (window.size() > limit) window.pop_front();
}

}  // namespace

const LiveStats::Entry* LiveStats::find(const std::string& route) const {
  std::shared_lock lock(map_mutex_);
  auto it = entries_.find(route);
  return it == entries_.end() ? nullptr : it->second.get();
}

LiveStats::Entry& LiveStats::find_or_add(const std::string& route) {
  if (const Entry* entry = find(route)) return const_cast<Entry&>(*entry);
  std::unique_lock lock(map_mutex_);
  auto& slot = entries_[route];
  if (!slot) slot = std::make_unique<Entry>();
  return *slot;
}

void LiveStats::record(const std::string& route, const CallSample& sample) {
  if (!sample.counts_for_uptime) return;
  Entry& entry = find_or_add(route);
  std::lock_guard lock(entry.mutex);
  RouteFigures& figures = entry.figures;
  ++figures.samples;
  if (sample.success) ++entry.successes;
  figures.success_rate = static_cast<double>(entry.successes) / static_cast<double>(figures.samples);
  if (sample.success && sample.ttft_ms) {
    blend(figures.ttft_ms, *sample.ttft_ms, options_.ewma_alpha);
    push_bounded(entry.ttft_window, *sample.ttft_ms, options_.window);
  }
  if (sample.success && sample.throughput_tok_s) {
    blend(figures.throughput_tok_s, *sample.throughput_tok_s, options_.ewma_alpha);
    push_bounded(entry.throughput_window, *sample.throughput_tok_s, options_.window);
  }
}

std::optional<RouteFigures> LiveStats::figures(const std::string& route) const {
  const Entry* entry = find(route);
  if (!entry) return std::nullopt;
  std::lock_guard lock(entry->mutex);
  if (entry->figures.samples < options_.min_samples) return std::nullopt;
  return entry->figures;
}

std::optional<double> LiveStats::window_percentile(const std::string& route, std::deque<double> Entry::*window,
                                                   Percentile percentile) const {
  const Entry* entry = find(route);
  if (!entry) return std::nullopt;
  std::lock_guard lock(entry->mutex);
  if (entry->figures.samples < options_.min_samples) return std::nullopt;
  return percentile_of(entry->*window, percentile);
}

std::optional<double> LiveStats::ttft_percentile_ms(const std::string& route, Percentile percentile) const {
  return window_percentile(route, &Entry::ttft_window, percentile);
}

std::optional<double> LiveStats::throughput_percentile_tok_s(const std::string& route, Percentile percentile) const {
  return window_percentile(route, &Entry::throughput_window, percentile);
}

std::vector<std::pair<std::string, RouteFigures>> LiveStats::snapshot_all() const {
  std::shared_lock lock(map_mutex_);
  std::vector<std::pair<std::string, RouteFigures>> out;
  for (const auto& [route, entry] : entries_) {
    std::lock_guard entry_lock(entry->mutex);
    out.emplace_back(route, entry->figures);
  }
  return out;
}

}  // namespace mg::pricing
