#include "pricing/live_stats.h"

#include <algorithm>
#include <cmath>
#include <utility>

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

// The fleet's totals as figures; where the fleet has no TTFT or throughput sample, the replica's own.
RouteFigures figures_of(const RouteTotals& fleet, const std::optional<RouteFigures>& local) {
  RouteFigures figures;
  figures.samples = fleet.calls;
  figures.success_rate = 1.0 - static_cast<double>(fleet.failures) / static_cast<double>(fleet.calls);
  if (fleet.ttft_samples > 0) figures.ttft_ms = fleet.ttft_ms_sum / static_cast<double>(fleet.ttft_samples);
  else if (local) figures.ttft_ms = local->ttft_ms;
  if (fleet.throughput_samples > 0) figures.throughput_tok_s = fleet.throughput_tok_s_sum / static_cast<double>(fleet.throughput_samples);
  else if (local) figures.throughput_tok_s = local->throughput_tok_s;
  return figures;
}

}  // namespace

void RouteTotals::add(const CallSample& sample) {
  ++calls;
  if (!sample.success) ++failures;
  if (sample.success && sample.ttft_ms) {
    ttft_ms_sum += *sample.ttft_ms;
    ++ttft_samples;
  }
  if (sample.success && sample.throughput_tok_s) {
    throughput_tok_s_sum += *sample.throughput_tok_s;
    ++throughput_samples;
  }
}

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
  entry.unshared.add(sample);
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
  std::optional<RouteFigures> local;
  if (const Entry* entry = find(route)) {
    std::lock_guard lock(entry->mutex);
    if (entry->figures.samples >= options_.min_samples) local = entry->figures;
  }
  std::optional<RouteTotals> fleet = fleet_totals(route);
  if (fleet && fleet->calls >= options_.min_samples) return figures_of(*fleet, local);
  return local;
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

std::vector<std::pair<std::string, RouteTotals>> LiveStats::take_unshared() {
  std::shared_lock lock(map_mutex_);
  std::vector<std::pair<std::string, RouteTotals>> out;
  for (const auto& [route, entry] : entries_) {
    std::lock_guard entry_lock(entry->mutex);
    if (entry->unshared.calls == 0) continue;
    out.emplace_back(route, std::exchange(entry->unshared, RouteTotals{}));
  }
  return out;
}

void LiveStats::set_fleet_totals(RouteTotalsByRoute totals) {
  fleet_.store(totals.empty() ? nullptr : std::make_shared<const RouteTotalsByRoute>(std::move(totals)));
}

std::optional<RouteTotals> LiveStats::fleet_totals(const std::string& route) const {
  std::shared_ptr<const RouteTotalsByRoute> fleet = fleet_.load();
  if (!fleet) return std::nullopt;
  auto found = fleet->find(route);
  if (found == fleet->end()) return std::nullopt;
  return found->second;
}

}  // namespace mg::pricing
