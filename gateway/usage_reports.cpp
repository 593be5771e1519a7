#include "gateway/usage_reports.h"

#include <charconv>

#include <boost/asio/post.hpp>

#include "gateway/log.h"

namespace mg::gateway {
namespace {

Result<std::int64_t> parse_milliseconds(std::string_view name, std::string_view text) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) {
    return Error::invalid_request(std::string(name) + " must be Unix time in milliseconds; got '" + std::string(text) + "'", std::string(name));
  }
  return value;
}

Result<pricing::UsageGrouping> parse_grouping(std::string_view text) {
  if (text == "model") return pricing::UsageGrouping::model;
  if (text == "route") return pricing::UsageGrouping::route;
  if (text == "key") return pricing::UsageGrouping::key;
  if (text == "day") return pricing::UsageGrouping::day;
  return Error::invalid_request("group_by must be one of model, route, key, day; got '" + std::string(text) + "'", "group_by");
}

}  // namespace

UsageReports::UsageReports(const std::string& db_path) : db_(pricing::Database::open(db_path)) {}

UsageReports::~UsageReports() { pool_.join(); }

void UsageReports::query(pricing::UsageFilter filter, boost::asio::any_io_executor reply_on, Callback done) {
  boost::asio::post(pool_, [this, filter, reply_on, done = std::move(done)]() mutable {
    Result<std::vector<pricing::UsageRow>> result = Error{};
    try {
      result = pricing::query_usage(db_, filter);
    } catch (const std::exception& e) {
      log_warn(std::string("GET /v1/usage: cannot read the ledger: ") + e.what());  // names the file: the log only
      result = Error{500, FailureClass::transient, "server_error", "ledger_unavailable", {}, "cannot read the ledger now; retry shortly", 0};
    }
    boost::asio::post(reply_on, [done = std::move(done), result = std::move(result)]() mutable { done(std::move(result)); });
  });
}

Result<pricing::UsageFilter> parse_usage_query(std::string_view query) {
  pricing::UsageFilter filter;
  while (!query.empty()) {
    std::string_view pair = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(query.size(), pair.size() + 1));
    if (pair.empty()) continue;
    std::string_view name = pair.substr(0, pair.find('='));
    std::string_view value = name.size() < pair.size() ? pair.substr(name.size() + 1) : std::string_view();
    if (name == "from_ms" || name == "to_ms") {
      Result<std::int64_t> ms = parse_milliseconds(name, value);
      if (!ms) return ms.error();
      (name == "from_ms" ? filter.from_ms : filter.to_ms) = *ms;
    } else if (name == "group_by") {
      Result<pricing::UsageGrouping> grouping = parse_grouping(value);
      if (!grouping) return grouping.error();
      filter.group_by = *grouping;
    } else {
      return Error::invalid_request("unknown parameter '" + std::string(name) + "'; use from_ms, to_ms and group_by", std::string(name));
    }
  }
  return filter;
}

}  // namespace mg::gateway
