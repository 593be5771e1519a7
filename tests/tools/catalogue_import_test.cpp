// `modelgate catalogue import`: real files into a real SQLite catalogue, all or nothing.
#include "tools/catalogue_import.h"

#include <fstream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "tests/support/test_gateway.h"

namespace mg::tools {
namespace {

std::string read_fixture(const std::string& name) {
  std::ifstream file(std::string(MODELGATE_TEST_DATA_DIR) + "/" + name);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

class CatalogueImportTest : public ::testing::Test {
 protected:
  std::string dump() const { return export_routes_csv(pricing::load_catalogue(db_)); }

  test::TempDir dir_;
  pricing::Database db_ = pricing::Database::open(test_database(dir_, "catalogue.db"));
};

const pricing::RouteRecord* find_route(const pricing::CatalogueData& data, const std::string& model, const std::string& provider) {
  for (const auto& route : data.routes) {
    if (route.model_id == model && route.provider == provider) return &route;
  }
  return nullptr;
}

TEST_F(CatalogueImportTest, ImportsOpenRouterModelsListing) {
  auto result = import_catalogue(db_, read_fixture("openrouter_models.json"), {});
  ASSERT_TRUE(std::holds_alternative<std::size_t>(result)) << std::get<ImportError>(result).message;
  EXPECT_EQ(std::get<std::size_t>(result), 2u);
  auto data = pricing::load_catalogue(db_);
  const auto* small = find_route(data, "mistralai/mistral-small-3.1-24b-instruct", "openrouter");
  ASSERT_NE(small, nullptr);
  EXPECT_NEAR(small->usd_per_mtok_input, 0.05, 1e-12);
  EXPECT_NEAR(small->usd_per_mtok_output, 0.10, 1e-12);
  EXPECT_EQ(small->context_length, 131072);
  for (const auto& model : data.models) {
    if (model.id == "mistralai/mistral-small-3.1-24b-instruct") {
      EXPECT_TRUE(model.supports_tools && model.supports_json);
    }
    if (model.id == "mistralai/mixtral-8x22b-instruct") {
      EXPECT_FALSE(model.supports_tools);
    }
  }
}

TEST_F(CatalogueImportTest, CsvExportImportsBackUnchanged) {
  std::string before = dump();
  db_.exec("DELETE FROM routes");
  auto result = import_catalogue(db_, before, {});
  ASSERT_TRUE(std::holds_alternative<std::size_t>(result)) << std::get<ImportError>(result).message;
  EXPECT_EQ(dump(), before);
}

TEST_F(CatalogueImportTest, CsvAddsProvidersGivenABaseUrl) {
  auto result = import_catalogue(db_,
                                 "model,provider,usd_per_mtok_input,usd_per_mtok_output,context_length,base_url,api_key_env\n"
                                 "mistral-7b-instruct,my-vllm,0,0,8192,http://10.1.2.3:8000/v1,\n",
                                 {});
  ASSERT_TRUE(std::holds_alternative<std::size_t>(result)) << std::get<ImportError>(result).message;
  auto data = pricing::load_catalogue(db_);
  ASSERT_NE(find_route(data, "mistral-7b-instruct", "my-vllm"), nullptr);
}

// An embedding model's route is priced per input token: its output price may be left out, and its kind
// survives an export and an import.
TEST_F(CatalogueImportTest, EmbeddingModelsKeepTheirKindFromCsvAndOpenRouter) {
  auto csv = import_catalogue(db_,
                              "model,provider,usd_per_mtok_input,usd_per_mtok_output,context_length,kind\n"
                              "text-embed-small,deepinfra,0.02,,8191,embedding\n"
                              "chat-model,deepinfra,0.1,0.2,4096,\n",
                              {});
  ASSERT_TRUE(std::holds_alternative<std::size_t>(csv)) << std::get<ImportError>(csv).message;
  auto openrouter = import_catalogue(db_, R"({"data": [{"id": "openai/text-embedding-3-large", "context_length": 8192,
                                             "architecture": {"input_modalities": ["text"], "output_modalities": ["embeddings"]},
                                             "pricing": {"prompt": "0.00000013"}}]})", {});
  ASSERT_TRUE(std::holds_alternative<std::size_t>(openrouter)) << std::get<ImportError>(openrouter).message;
  auto data = pricing::load_catalogue(db_);
  std::map<std::string, pricing::ModelKind> kinds;
  for (const auto& model : data.models) kinds[model.id] = model.kind;
  EXPECT_EQ(kinds["text-embed-small"], pricing::ModelKind::embedding);
  EXPECT_EQ(kinds["openai/text-embedding-3-large"], pricing::ModelKind::embedding);
  EXPECT_EQ(kinds["chat-model"], pricing::ModelKind::chat);
  EXPECT_EQ(kinds["mistral-7b-instruct"], pricing::ModelKind::chat);  // the seed, from before kinds
  const auto* embed = find_route(data, "text-embed-small", "deepinfra");
  ASSERT_NE(embed, nullptr);
  EXPECT_EQ(embed->usd_per_mtok_output, 0);
  std::string exported = dump();
  EXPECT_NE(exported.find("\ntext-embed-small,deepinfra,text-embed-small,0.02,0,8191,,,,false,false,true,https://api.deepinfra.com/v1/openai,"
                          "DEEPINFRA_API_KEY,embedding\n"),
            std::string::npos)
      << exported;
  db_.exec("DELETE FROM routes");
  db_.exec("DELETE FROM models");
  auto back = import_catalogue(db_, exported, {});
  ASSERT_TRUE(std::holds_alternative<std::size_t>(back)) << std::get<ImportError>(back).message;
  EXPECT_EQ(dump(), exported);
}

struct BadFile {
  const char* name;
  const char* text;
  int line;
  const char* reason;
};

void PrintTo(const BadFile& file, std::ostream* out) { *out << file.name; }

class CatalogueImportRejectionTest : public CatalogueImportTest, public ::testing::WithParamInterface<BadFile> {};

TEST_P(CatalogueImportRejectionTest, NamesTheLineAndChangesNothing) {
  std::string before = dump();
  std::int64_t version_before = pricing::catalogue_version(db_);
  auto result = import_catalogue(db_, GetParam().text, {});
  ASSERT_TRUE(std::holds_alternative<ImportError>(result));
  const ImportError& error = std::get<ImportError>(result);
  EXPECT_EQ(error.line, GetParam().line) << error.message;
  EXPECT_NE(error.message.find(GetParam().reason), std::string::npos) << error.message;
  EXPECT_EQ(dump(), before);
  EXPECT_EQ(pricing::catalogue_version(db_), version_before);
}

const char* const kHeader = "model,provider,usd_per_mtok_input,usd_per_mtok_output,context_length\n";

INSTANTIATE_TEST_SUITE_P(
    Files, CatalogueImportRejectionTest,
    ::testing::Values(
        BadFile{"CsvPriceNotANumber", "model,provider,usd_per_mtok_input,usd_per_mtok_output,context_length\n"
                                      "a,deepinfra,0.1,0.2,4096\n"
                                      "b,deepinfra,cheap,0.2,4096\n", 3, "usd_per_mtok_input 'cheap' is not a number"},
        BadFile{"CsvNegativePrice", "model,provider,usd_per_mtok_input,usd_per_mtok_output,context_length\n"
                                    "a,deepinfra,0.1,-0.2,4096\n", 2, "must not be negative"},
        BadFile{"CsvUnknownProviderOnALaterLine", "model,provider,usd_per_mtok_input,usd_per_mtok_output,context_length\n"
                                                  "a,deepinfra,0.1,0.2,4096\n"
                                                  "\n"
                                                  "b,nowhere-ai,0.1,0.2,4096\n", 4, "provider 'nowhere-ai' is not in the catalogue"},
        BadFile{"CsvMissingColumn", "model,provider,usd_per_mtok_input,context_length\n", 1, "lacks the column 'usd_per_mtok_output'"},
        BadFile{"CsvUnknownColumn", "model,provider,usd_per_mtok_input,usd_per_mtok_output,context_length,colour\n", 1, "unknown column 'colour'"},
        BadFile{"CsvTooManyFields", "model,provider,usd_per_mtok_input,usd_per_mtok_output,context_length\n"
                                    "a,deepinfra,0.1,0.2,4096,extra\n", 2, "has 6 fields"},
        BadFile{"CsvUnclosedQuote", "model,provider,usd_per_mtok_input,usd_per_mtok_output,context_length\n"
                                    "\"a,deepinfra,0.1,0.2,4096\n", 2, "not closed"},
        BadFile{"CsvZeroContext", "model,provider,usd_per_mtok_input,usd_per_mtok_output,context_length\n"
                                  "a,deepinfra,0.1,0.2,0\n", 2, "context_length must be a positive integer"},
        BadFile{"CsvEmpty", "", 0, "the file is empty"},
        BadFile{"CsvUnknownKind", "model,provider,usd_per_mtok_input,usd_per_mtok_output,context_length,kind\n"
                                  "a,deepinfra,0.1,0.2,4096,vision\n", 2, "kind must be chat or embedding; got 'vision'"},
        BadFile{"CsvChatRouteWithoutOutputPrice", "model,provider,usd_per_mtok_input,usd_per_mtok_output,context_length\n"
                                                  "a,deepinfra,0.1,,4096\n", 2, "usd_per_mtok_output is empty"},
        BadFile{"JsonSyntax", "{\"data\": [\n  {\"id\": \"x\",\n", 0, "not valid JSON"},
        BadFile{"JsonNoDataArray", "{\"models\": []}", 1, "an object with a \"data\" array"},
        BadFile{"JsonBadPriceOnThirdModel", "{\"data\": [\n"
                                            "  {\"id\": \"a\", \"context_length\": 4096, \"pricing\": {\"prompt\": \"0.000001\", \"completion\": \"0.000001\"}},\n"
                                            "  {\"id\": \"b\", \"context_length\": 4096, \"pricing\": {\"prompt\": \"0.000001\", \"completion\": \"0.000001\"}},\n"
                                            "  {\"id\": \"c\", \"context_length\": 4096,\n"
                                            "   \"pricing\": {\"prompt\": \"free\", \"completion\": \"0\"}}\n"
                                            "]}\n", 4, "model 3: pricing.prompt 'free' is not a number"},
        BadFile{"JsonMissingContext", "{\"data\": [{\"id\": \"a\", \"pricing\": {\"prompt\": \"0\", \"completion\": \"0\"}}]}", 1,
                "context_length must be a positive integer"},
        // Found by the catalogue_import fuzz target (tests/fuzz): from_chars reads "nan" and "inf", and a NaN
        // context_length reached a float-to-int conversion that is undefined behaviour.
        BadFile{"CsvContextNaN", "model,provider,usd_per_mtok_input,usd_per_mtok_output,context_length\n"
                                 "a,deepinfra,0.1,0.2,nan\n", 2, "context_length 'nan' is not a finite number"},
        BadFile{"CsvInfinitePrice", "model,provider,usd_per_mtok_input,usd_per_mtok_output,context_length\n"
                                    "a,deepinfra,inf,0.2,4096\n", 2, "usd_per_mtok_input 'inf' is not a finite number"},
        BadFile{"JsonInfinitePrice", "{\"data\": [{\"id\": \"a\", \"context_length\": 4096, \"pricing\": {\"prompt\": \"1e308\", \"completion\": \"0\"}}]}",
                1, "pricing.prompt is not a finite number"},
        // Also found by it: a newline in a model id made an export that does not import back (CSV rows are lines).
        BadFile{"JsonNewlineInId", "{\"data\": [{\"id\": \"a\\nb\", \"context_length\": 4096, \"pricing\": {\"prompt\": \"0\", \"completion\": \"0\"}}]}",
                1, "id must not contain control characters"},
        BadFile{"CsvCarriageReturnInAField", "model,provider,usd_per_mtok_input,usd_per_mtok_output,context_length,quantization\n"
                                             "a,deepinfra,0.1,0.2,4096,\"fp8\r\"\n", 2, "quantization must not contain control characters"}),
    [](const auto& test_case) { return std::string(test_case.param.name); });

}  // namespace
}  // namespace mg::tools
