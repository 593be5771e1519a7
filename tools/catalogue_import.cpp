#include "tools/catalogue_import.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/json_scan.h"
#include "formats/openai_wire.h"

namespace mg::tools {
namespace {

using nlohmann::json;

const char* const kColumns[] = {"model", "provider", "upstream_model", "usd_per_mtok_input", "usd_per_mtok_output", "context_length",
                                "quantization", "published_ttft_ms", "published_throughput_tok_s", "supports_tools", "supports_json",
                                "enabled", "base_url", "api_key_env", "kind"};

struct RowError {
  std::string message;
};

int line_of(const std::string& text, std::size_t offset) {
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(std::min(offset, text.size())), '\n'));
}

// Byte offsets where each element of the root object's "data" array starts, found without building the
// DOM twice: nlohmann reports no positions for values, and every row error must name its line.
std::vector<std::size_t> data_element_offsets(const std::string& text) {
  std::vector<std::size_t> offsets;
  int depth = 0;
  bool in_data = false;
  std::string_view last_string, last_key;
  scan_json_structure(
      text,
      [&](char c, std::size_t offset) {
        if (c == ':' && depth == 1) last_key = last_string;
        if (c == '{' || c == '[') {
          if (in_data && depth == 2) offsets.push_back(offset);
          if (depth == 1 && c == '[' && last_key == "data") in_data = true;
          ++depth;
        } else if (c == '}' || c == ']') {
          if (--depth == 1) in_data = false;
        }
        return true;
      },
      [&](std::string_view content) { last_string = content; });
  return offsets;
}

// Names and ids become CSV fields, table cells and log text: a control character (a newline in a model id)
// would break the line-per-route CSV that export writes and import reads back.
void check_no_control_characters(const std::string& value, const std::string& what) {
  if (std::any_of(value.begin(), value.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; })) {
    throw RowError{what + " must not contain control characters"};
  }
}

double per_token_to_per_mtok(const json& value, const char* what) {
  double per_token = 0;
  if (value.is_number()) {
    per_token = value.get<double>();
  } else if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), per_token);
    if (ec != std::errc() || end != text.data() + text.size()) throw RowError{std::string("pricing.") + what + " '" + text + "' is not a number"};
  } else {
    throw RowError{std::string("pricing.") + what + " is missing"};
  }
  if (per_token < 0) throw RowError{std::string("pricing.") + what + " is negative"};
  if (!std::isfinite(per_token * 1e6)) throw RowError{std::string("pricing.") + what + " is not a finite number"};  // "nan", "inf", 1e308
  return per_token * 1e6;
}

bool lists(const json& model, const char* parameter) {
  const json* parameters = model.contains("supported_parameters") ? &model["supported_parameters"] : nullptr;
  return parameters && parameters->is_array() && std::find(parameters->begin(), parameters->end(), parameter) != parameters->end();
}

// OpenRouter's embedding models list "embeddings" among architecture.output_modalities.
bool outputs_embeddings(const json& model) {
  const json* architecture = model.contains("architecture") ? &model["architecture"] : nullptr;
  if (!architecture || !architecture->is_object() || !architecture->contains("output_modalities")) return false;
  const json& outputs = (*architecture)["output_modalities"];
  return outputs.is_array() && std::find(outputs.begin(), outputs.end(), "embeddings") != outputs.end();
}

ImportedRow openrouter_row(const json& model, const ImportOptions& options) {
  if (!model.is_object()) throw RowError{"a model must be an object"};
  if (!model.contains("id") || !model["id"].is_string() || model["id"].get<std::string>().empty()) throw RowError{"id is missing"};
  ImportedRow row;
  row.model.id = model["id"].get<std::string>();
  check_no_control_characters(row.model.id, "id");
  const json* context = model.contains("context_length") ? &model["context_length"] : nullptr;
  if (!context || !context->is_number_integer() || context->get<std::int64_t>() <= 0 || context->get<std::int64_t>() > 100'000'000) {
    throw RowError{"context_length must be a positive integer"};
  }
  row.model.context_length = static_cast<int>(context->get<std::int64_t>());
  row.model.supports_tools = lists(model, "tools");
  row.model.supports_json = lists(model, "response_format") || lists(model, "structured_outputs");
  row.model.kind = outputs_embeddings(model) ? pricing::ModelKind::embedding : pricing::ModelKind::chat;
  if (!model.contains("pricing") || !model["pricing"].is_object()) throw RowError{"pricing is missing"};
  row.route.model_id = row.model.id;
  row.route.provider = options.openrouter_provider;
  row.route.upstream_model_id = row.model.id;
  row.route.usd_per_mtok_input = per_token_to_per_mtok(model["pricing"].value("prompt", json()), "prompt");
  json completion_price = model["pricing"].value("completion", json());
  bool priced_by_input_only = row.model.kind == pricing::ModelKind::embedding && completion_price.is_null();
  row.route.usd_per_mtok_output = priced_by_input_only ? 0 : per_token_to_per_mtok(completion_price, "completion");
  row.route.context_length = row.model.context_length;
  if (model.contains("quantization") && model["quantization"].is_string()) row.route.quantization = model["quantization"].get<std::string>();
  check_no_control_characters(row.route.quantization, "quantization");
  return row;
}

// ---- CSV --------------------------------------------------------------------------------------------

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') fields.back() += '"', ++i;
      else if (c == '"') quoted = false;
      else fields.back() += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
    } else {
      fields.back() += c;
    }
  }
  if (quoted) throw RowError{"a quoted field is not closed"};
  return fields;
}

class CsvRow {
 public:
  CsvRow(const std::map<std::string, std::size_t>& columns, std::vector<std::string> fields) : columns_(columns), fields_(std::move(fields)) {}

  std::string text(const char* column, bool required) const {
    auto it = columns_.find(column);
    std::string value = it != columns_.end() && it->second < fields_.size() ? fields_[it->second] : "";
    if (required && value.empty()) throw RowError{std::string(column) + " is empty"};
    check_no_control_characters(value, column);
    return value;
  }
  std::optional<double> number(const char* column, bool required) const {
    std::string value = text(column, required);
    if (value.empty()) return std::nullopt;
    double number = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (ec != std::errc() || end != value.data() + value.size()) throw RowError{std::string(column) + " '" + value + "' is not a number"};
    if (!std::isfinite(number)) throw RowError{std::string(column) + " '" + value + "' is not a finite number"};  // from_chars reads "nan" and "inf"
    if (number < 0) throw RowError{std::string(column) + " must not be negative; got " + value};
    return number;
  }
  bool flag(const char* column, bool fallback) const {
    std::string value = text(column, false);
    if (value.empty()) return fallback;
    if (value == "1" || value == "true" || value == "yes") return true;
    if (value == "0" || value == "false" || value == "no") return false;
    throw RowError{std::string(column) + " must be true or false; got '" + value + "'"};
  }

 private:
  const std::map<std::string, std::size_t>& columns_;
  std::vector<std::string> fields_;
};

pricing::ModelKind model_kind(const CsvRow& fields) {
  std::string name = fields.text("kind", false);
  if (name.empty()) return pricing::ModelKind::chat;
  if (auto kind = pricing::model_kind_named(name)) return *kind;
  throw RowError{"kind must be chat or embedding; got '" + name + "'"};
}

ImportedRow csv_row(const CsvRow& fields) {
  ImportedRow row;
  row.model.id = fields.text("model", true);
  double context = *fields.number("context_length", true);
  if (context < 1 || context > 1e8 || context != static_cast<int>(context)) throw RowError{"context_length must be a positive integer"};
  row.model.context_length = static_cast<int>(context);
  row.model.supports_tools = fields.flag("supports_tools", false);
  row.model.supports_json = fields.flag("supports_json", false);
  row.model.kind = model_kind(fields);
  row.route.model_id = row.model.id;
  row.route.provider = fields.text("provider", true);
  row.route.upstream_model_id = fields.text("upstream_model", false);
  if (row.route.upstream_model_id.empty()) row.route.upstream_model_id = row.model.id;
  row.route.usd_per_mtok_input = *fields.number("usd_per_mtok_input", true);
  // An embedding route's price is per input token; it has no output to price.
  bool priced_by_input_only = row.model.kind == pricing::ModelKind::embedding;
  row.route.usd_per_mtok_output = fields.number("usd_per_mtok_output", !priced_by_input_only).value_or(0);
  row.route.context_length = row.model.context_length;
  row.route.quantization = fields.text("quantization", false);
  row.route.published_ttft_ms = fields.number("published_ttft_ms", false);
  row.route.published_throughput_tok_s = fields.number("published_throughput_tok_s", false);
  row.route.enabled = fields.flag("enabled", true);
  std::string base_url = fields.text("base_url", false);
  if (!base_url.empty()) {
    row.provider = pricing::ProviderRecord{row.route.provider, base_url, fields.text("api_key_env", false), "openai", true};
  }
  return row;
}

std::string csv_field(const std::string& value) {
  if (value.find_first_of(",\"\n") == std::string::npos) return value;
  std::string quoted = "\"";
  for (char c : value) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string csv_number(const std::optional<double>& value) {
  if (!value) return "";
  char text[32];
  std::snprintf(text, sizeof text, "%.10g", *value);
  return text;
}

}  // namespace

const char* const kRoutesCsvHeader =
    "model,provider,upstream_model,usd_per_mtok_input,usd_per_mtok_output,context_length,quantization,published_ttft_ms,"
    "published_throughput_tok_s,supports_tools,supports_json,enabled,base_url,api_key_env,kind";

std::variant<std::vector<ImportedRow>, ImportError> parse_openrouter_models(const std::string& text, const ImportOptions& options) {
  Result<json> document = parse_json_document(text);
  if (!document) return ImportError{0, document.error().message};
  if (!document->is_object() || !document->contains("data") || !(*document)["data"].is_array()) {
    return ImportError{1, "expected OpenRouter's models listing: an object with a \"data\" array"};
  }
  std::vector<std::size_t> offsets = data_element_offsets(text);
  std::vector<ImportedRow> rows;
  const json& data = (*document)["data"];
  for (std::size_t i = 0; i < data.size(); ++i) {
    int line = i < offsets.size() ? line_of(text, offsets[i]) : 0;
    try {
      rows.push_back(openrouter_row(data[i], options));
      rows.back().line = line;
    } catch (const RowError& error) {
      return ImportError{line, "model " + std::to_string(i + 1) + ": " + error.message};
    }
  }
  return rows;
}

std::variant<std::vector<ImportedRow>, ImportError> parse_routes_csv(const std::string& text) {
  std::istringstream lines(text);
  std::string line;
  std::map<std::string, std::size_t> columns;
  std::vector<ImportedRow> rows;
  int number = 0;
  while (std::getline(lines, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    try {
      std::vector<std::string> fields = split_csv_line(line);
      if (columns.empty()) {
        for (std::size_t i = 0; i < fields.size(); ++i) {
          if (std::find(std::begin(kColumns), std::end(kColumns), fields[i]) == std::end(kColumns)) throw RowError{"unknown column '" + fields[i] + "'"};
          columns[fields[i]] = i;
        }
        for (const char* required : {"model", "provider", "usd_per_mtok_input", "usd_per_mtok_output", "context_length"}) {
          if (!columns.contains(required)) throw RowError{std::string("the header lacks the column '") + required + "'"};
        }
        continue;
      }
      if (fields.size() > columns.size()) throw RowError{"has " + std::to_string(fields.size()) + " fields; the header has " + std::to_string(columns.size())};
      rows.push_back(csv_row(CsvRow(columns, std::move(fields))));
      rows.back().line = number;
    } catch (const RowError& error) {
      return ImportError{number, error.message};
    }
  }
  if (columns.empty()) return ImportError{0, "the file is empty; CSV needs a header line: " + std::string(kRoutesCsvHeader)};
  return rows;
}

std::variant<std::size_t, ImportError> import_catalogue(pricing::Database& db, const std::string& text, const ImportOptions& options) {
  std::size_t first = text.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
  bool is_json = first != std::string::npos && text[first] == '{';
  auto parsed = is_json ? parse_openrouter_models(text, options) : parse_routes_csv(text);
  if (auto error = std::get_if<ImportError>(&parsed)) return *error;
  const auto& rows = std::get<std::vector<ImportedRow>>(parsed);
  pricing::Transaction transaction(db);
  for (const ImportedRow& row : rows) {
    try {
      if (row.provider) pricing::upsert_provider(db, *row.provider);
      pricing::upsert_model(db, row.model);
      pricing::upsert_route(db, row.route);
    } catch (const std::exception& e) {
      std::string why = e.what();
      if (why.find("FOREIGN KEY") != std::string::npos) why = "provider '" + row.route.provider + "' is not in the catalogue (add a base_url column)";
      return ImportError{row.line, why};  // the transaction rolls back
    }
  }
  transaction.commit();
  return rows.size();
}

std::string export_routes_csv(const pricing::CatalogueData& data) {
  std::map<std::string, const pricing::ModelRecord*> models;
  for (const auto& model : data.models) models[model.id] = &model;
  std::map<std::string, const pricing::ProviderRecord*> providers;
  for (const auto& provider : data.providers) providers[provider.name] = &provider;
  std::string out = std::string(kRoutesCsvHeader) + "\n";
  for (const pricing::RouteRecord& route : data.routes) {
    const pricing::ModelRecord& model = *models.at(route.model_id);
    const pricing::ProviderRecord& provider = *providers.at(route.provider);
    out += csv_field(route.model_id) + "," + csv_field(route.provider) + "," + csv_field(route.upstream_model_id) + "," +
           csv_number(route.usd_per_mtok_input) + "," + csv_number(route.usd_per_mtok_output) + "," + std::to_string(route.context_length) +
           "," + csv_field(route.quantization) + "," + csv_number(route.published_ttft_ms) + "," + csv_number(route.published_throughput_tok_s) +
           "," + (model.supports_tools ? "true" : "false") + "," + (model.supports_json ? "true" : "false") + "," +
           (route.enabled ? "true" : "false") + "," + csv_field(provider.base_url) + "," + csv_field(provider.api_key_env) + "," +
           pricing::to_string(model.kind) + "\n";
  }
  return out;
}

}  // namespace mg::tools
