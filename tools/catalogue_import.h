// Reading catalogue files for `modelgate catalogue import`: OpenRouter's /api/v1/models JSON listing, and
// CSV with one route per line. Every error names the file line. The import is one transaction: a bad
// row leaves the database exactly as it was.
#pragma once

#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "pricing/catalogue.h"

namespace mg::tools {

struct ImportedRow {
  int line = 0;  // where the row starts in the file, for messages
  std::optional<pricing::ProviderRecord> provider;  // created or updated when given
  pricing::ModelRecord model;
  pricing::RouteRecord route;
};

struct ImportError {
  int line = 0;  // 0 when the problem is the file as a whole
  std::string message;
};

struct ImportOptions {
  std::string openrouter_provider = "openrouter";  // provider the OpenRouter listing's routes belong to
};

// Parses without touching the database; the first problem comes back as an ImportError.
std::variant<std::vector<ImportedRow>, ImportError> parse_openrouter_models(const std::string& text, const ImportOptions& options);
std::variant<std::vector<ImportedRow>, ImportError> parse_routes_csv(const std::string& text);

// Picks the format from the content (a JSON object, or CSV) and writes every row in one transaction.
// Returns the number of routes written; on error nothing is written.
std::variant<std::size_t, ImportError> import_catalogue(pricing::Database& db, const std::string& text, const ImportOptions& options);

// The CSV header import and export share.
extern const char* const kRoutesCsvHeader;
std::string export_routes_csv(const pricing::CatalogueData& data);

}  // namespace mg::tools
