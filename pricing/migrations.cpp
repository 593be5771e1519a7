// The schema, one numbered migration at a time, in SQLite's words and (where they differ) PostgreSQL's.
// Append only: a shipped migration is never edited.
#include <string>

#include "pricing/database.h"

namespace mg::pricing {
namespace {

constexpr const char* kMeta = R"sql(
  CREATE TABLE gateway_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  INSERT INTO gateway_meta(key, value) VALUES ('created_at', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));
)sql";

constexpr const char* kCatalogueAndLedger = R"sql(
  CREATE TABLE providers (
    name         TEXT PRIMARY KEY,
    base_url     TEXT NOT NULL,
    api_key_env  TEXT NOT NULL DEFAULT '',   -- environment variable holding the key; '' when none is needed
    dialect      TEXT NOT NULL DEFAULT 'openai',
    enabled      INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1))
  );
  CREATE TABLE models (
    id              TEXT PRIMARY KEY,
    family          TEXT NOT NULL DEFAULT '',
    context_length  INTEGER NOT NULL CHECK (context_length > 0),
    supports_tools  INTEGER NOT NULL DEFAULT 0 CHECK (supports_tools IN (0, 1)),
    supports_json   INTEGER NOT NULL DEFAULT 0 CHECK (supports_json IN (0, 1))
  );
  CREATE TABLE model_aliases (
    alias     TEXT PRIMARY KEY,
    model_id  TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE
  );
  CREATE TABLE routes (
    id                          INTEGER PRIMARY KEY,
    model_id                    TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    provider                    TEXT NOT NULL REFERENCES providers(name) ON DELETE CASCADE,
    upstream_model_id           TEXT NOT NULL,
    usd_per_mtok_input          REAL NOT NULL CHECK (usd_per_mtok_input >= 0),
    usd_per_mtok_output         REAL NOT NULL CHECK (usd_per_mtok_output >= 0),
    context_length              INTEGER NOT NULL CHECK (context_length > 0),
    quantization                TEXT NOT NULL DEFAULT '',
    published_ttft_ms           REAL CHECK (published_ttft_ms >= 0),
    published_throughput_tok_s  REAL CHECK (published_throughput_tok_s >= 0),
    measured_ttft_ms            REAL,
    measured_throughput_tok_s   REAL,
    measured_success_rate       REAL,
    measured_samples            INTEGER NOT NULL DEFAULT 0,
    enabled                     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    UNIQUE (model_id, provider)
  );
  CREATE TABLE price_history (
    route_id             INTEGER NOT NULL REFERENCES routes(id) ON DELETE CASCADE,
    changed_at           TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    usd_per_mtok_input   REAL NOT NULL,
    usd_per_mtok_output  REAL NOT NULL
  );
  CREATE TRIGGER routes_price_history AFTER UPDATE OF usd_per_mtok_input, usd_per_mtok_output ON routes
  WHEN OLD.usd_per_mtok_input IS NOT NEW.usd_per_mtok_input OR OLD.usd_per_mtok_output IS NOT NEW.usd_per_mtok_output
  BEGIN
    INSERT INTO price_history(route_id, usd_per_mtok_input, usd_per_mtok_output)
    VALUES (NEW.id, NEW.usd_per_mtok_input, NEW.usd_per_mtok_output);
  END;
  CREATE TABLE usage_ledger (
    id                 INTEGER PRIMARY KEY,
    request_id         TEXT NOT NULL,
    created_at_ms      INTEGER NOT NULL,          -- Unix time of arrival, milliseconds
    api_key_id         TEXT NOT NULL DEFAULT '',
    requested_model    TEXT NOT NULL,
    route              TEXT NOT NULL DEFAULT '',  -- provider/model that answered, '' when none did
    prompt_tokens      INTEGER NOT NULL DEFAULT 0,
    completion_tokens  INTEGER NOT NULL DEFAULT 0,
    cost_usd           REAL NOT NULL DEFAULT 0,
    ttft_ms            REAL,
    duration_ms        REAL NOT NULL,
    status             INTEGER NOT NULL,          -- HTTP status the client got
    error_code         TEXT NOT NULL DEFAULT '',
    routes_tried       TEXT NOT NULL DEFAULT '[]', -- JSON array of {route, outcome}
    stream             INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX usage_ledger_by_time ON usage_ledger(created_at_ms);
)sql";

// Published figures for the models the gateway is built around (OpenRouter's and the providers' public
// pages, 2025-2026). Live measurements overwrite the measured_* columns, never these.
constexpr const char* kSeedCatalogue = R"sql(
  INSERT INTO providers(name, base_url, api_key_env, dialect) VALUES
    ('openrouter', 'https://openrouter.ai/api/v1',                 'OPENROUTER_API_KEY', 'openrouter'),
    ('deepinfra',  'https://api.deepinfra.com/v1/openai',          'DEEPINFRA_API_KEY',  'openai'),
    ('together',   'https://api.together.xyz/v1',                  'TOGETHER_API_KEY',   'openai'),
    ('mistral',    'https://api.mistral.ai/v1',                    'MISTRAL_API_KEY',    'mistral'),
    ('groq',       'https://api.groq.com/openai/v1',               'GROQ_API_KEY',       'openai'),
    ('fireworks',  'https://api.fireworks.ai/inference/v1',        'FIREWORKS_API_KEY',  'openai'),
    ('bedrock',    'https://bedrock-runtime.us-east-1.amazonaws.com/openai/v1', 'AWS_BEARER_TOKEN_BEDROCK', 'openai'),
    ('vllm',       'http://127.0.0.1:8000/v1',                     '',                   'openai'),
    ('llamacpp',   'http://127.0.0.1:8081/v1',                     '',                   'openai'),
    ('ollama',     'http://127.0.0.1:11434/v1',                    '',                   'openai');

  INSERT INTO models(id, family, context_length, supports_tools, supports_json) VALUES
    ('mistral-7b-instruct',   'mistral', 32768, 1, 1),
    ('mixtral-8x7b-instruct', 'mixtral', 32768, 1, 1);

  INSERT INTO model_aliases(alias, model_id) VALUES
    ('mistral-7b-instruct-v0.1',             'mistral-7b-instruct'),
    ('mistral-7b-instruct-v0.3',             'mistral-7b-instruct'),
    ('mistralai/mistral-7b-instruct',        'mistral-7b-instruct'),
    ('mistralai/mistral-7b-instruct-v0.1',   'mistral-7b-instruct'),
    ('mistralai/mistral-7b-instruct-v0.3',   'mistral-7b-instruct'),
    ('mixtral-8x7b-instruct-v0.1',           'mixtral-8x7b-instruct'),
    ('mistralai/mixtral-8x7b-instruct',      'mixtral-8x7b-instruct');

  INSERT INTO routes(model_id, provider, upstream_model_id, usd_per_mtok_input, usd_per_mtok_output, context_length,
                     quantization, published_ttft_ms, published_throughput_tok_s) VALUES
    ('mistral-7b-instruct',   'openrouter', 'mistralai/mistral-7b-instruct',          0.11, 0.19, 32768, '',     288, 199),
    ('mistral-7b-instruct',   'deepinfra',  'mistralai/Mistral-7B-Instruct-v0.3',     0.15, 0.20, 32768, '',     288, 199),
    ('mistral-7b-instruct',   'together',   'mistralai/Mistral-7B-Instruct-v0.3',     0.20, 0.20, 32768, '',     288, 199),
    ('mixtral-8x7b-instruct', 'bedrock',    'mistral.mixtral-8x7b-instruct-v0:1',     0.45, 0.70, 32768, '',     NULL, NULL),
    ('mixtral-8x7b-instruct', 'deepinfra',  'mistralai/Mixtral-8x7B-Instruct-v0.1',   0.54, 0.54, 32768, 'fp8',  288, 138),
    ('mixtral-8x7b-instruct', 'openrouter', 'mistralai/mixtral-8x7b-instruct',        0.54, 0.54, 32768, '',     NULL, NULL),
    ('mixtral-8x7b-instruct', 'together',   'mistralai/Mixtral-8x7B-Instruct-v0.1',   0.60, 0.60, 32768, '',     NULL, NULL);
)sql";

// A counter that every catalogue change bumps, so a running gateway notices edits made by the CLI (another
// process) and rebuilds its snapshot. Measured figures are written constantly and deliberately do not bump
// it. Generated from a table, deterministically: the text must never change once shipped.
std::string catalogue_version_sql() {
  struct Watched {
    const char* table;
    const char* update_of;  // columns whose update counts; '' for all
  };
  const Watched watched[] = {
      {"providers", ""},
      {"models", ""},
      {"model_aliases", ""},
      {"routes", " OF model_id, provider, upstream_model_id, usd_per_mtok_input, usd_per_mtok_output, context_length,"
                 " quantization, published_ttft_ms, published_throughput_tok_s, enabled"},
  };
  std::string sql = "INSERT INTO gateway_meta(key, value) VALUES ('catalogue_version', '1');\n";
  for (const Watched& table : watched) {
    for (const char* event : {"INSERT", "UPDATE", "DELETE"}) {
      std::string columns = std::string(event) == "UPDATE" ? table.update_of : "";
      sql += std::string("CREATE TRIGGER ") + table.table + "_changed_" + event + " AFTER " + event + columns + " ON " + table.table +
             " BEGIN UPDATE gateway_meta SET value = value + 1 WHERE key = 'catalogue_version'; END;\n";
    }
  }
  return sql;
}

// The seeded providers get the dialect presets named after them (the seed predates presets), unless an
// operator already chose another.
constexpr const char* kSeedDialects = R"sql(
  UPDATE providers SET dialect = name
   WHERE dialect = 'openai'
     AND name IN ('deepinfra', 'together', 'groq', 'fireworks', 'vllm', 'llamacpp', 'ollama');
)sql";

// Client API keys (pricing/api_keys.h): a SHA-256 of the secret, never the key; optional budgets and
// rate limits; the models a key may use (none listed: all). keys_version lets a running gateway notice
// keys created or revoked by the CLI.
constexpr const char* kApiKeys = R"sql(
  CREATE TABLE api_keys (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL DEFAULT '',
    secret_sha256        TEXT NOT NULL UNIQUE,
    created_at_ms        INTEGER NOT NULL,
    revoked_at_ms        INTEGER,
    budget_usd_day       REAL CHECK (budget_usd_day >= 0),
    budget_usd_month     REAL CHECK (budget_usd_month >= 0),
    budget_usd_total     REAL CHECK (budget_usd_total >= 0),
    requests_per_minute  INTEGER CHECK (requests_per_minute > 0),
    tokens_per_minute    INTEGER CHECK (tokens_per_minute > 0)
  );
  CREATE TABLE api_key_models (
    key_id  TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    model   TEXT NOT NULL,
    PRIMARY KEY (key_id, model)
  );
  CREATE INDEX usage_ledger_by_key ON usage_ledger(api_key_id, created_at_ms);
  INSERT INTO gateway_meta(key, value) VALUES ('keys_version', '1');
  CREATE TRIGGER api_keys_changed_insert AFTER INSERT ON api_keys
  BEGIN UPDATE gateway_meta SET value = value + 1 WHERE key = 'keys_version'; END;
  CREATE TRIGGER api_keys_changed_update AFTER UPDATE ON api_keys
  BEGIN UPDATE gateway_meta SET value = value + 1 WHERE key = 'keys_version'; END;
  CREATE TRIGGER api_keys_changed_delete AFTER DELETE ON api_keys
  BEGIN UPDATE gateway_meta SET value = value + 1 WHERE key = 'keys_version'; END;
  CREATE TRIGGER api_key_models_changed AFTER INSERT ON api_key_models
  BEGIN UPDATE gateway_meta SET value = value + 1 WHERE key = 'keys_version'; END;
)sql";

// A model serves chat or embeddings (pricing::ModelKind); every model before this one served chat. The
// same words in both databases.
constexpr const char* kModelKind = R"sql(
  ALTER TABLE models ADD COLUMN kind TEXT NOT NULL DEFAULT 'chat' CHECK (kind IN ('chat', 'embedding'));
)sql";

// PostgreSQL's words for the same schema: 64-bit integers and doubles where SQLite's INTEGER and REAL
// are, identity columns for rowids, and trigger functions.
constexpr const char* kMetaPostgres = R"sql(
  CREATE TABLE gateway_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  INSERT INTO gateway_meta(key, value) VALUES ('created_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
)sql";

constexpr const char* kCatalogueAndLedgerPostgres = R"sql(
  CREATE TABLE providers (
    name         TEXT PRIMARY KEY,
    base_url     TEXT NOT NULL,
    api_key_env  TEXT NOT NULL DEFAULT '',
    dialect      TEXT NOT NULL DEFAULT 'openai',
    enabled      INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1))
  );
  CREATE TABLE models (
    id              TEXT PRIMARY KEY,
    family          TEXT NOT NULL DEFAULT '',
    context_length  BIGINT NOT NULL CHECK (context_length > 0),
    supports_tools  INTEGER NOT NULL DEFAULT 0 CHECK (supports_tools IN (0, 1)),
    supports_json   INTEGER NOT NULL DEFAULT 0 CHECK (supports_json IN (0, 1))
  );
  CREATE TABLE model_aliases (
    alias     TEXT PRIMARY KEY,
    model_id  TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE
  );
  CREATE TABLE routes (
    id                          BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    model_id                    TEXT NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    provider                    TEXT NOT NULL REFERENCES providers(name) ON DELETE CASCADE,
    upstream_model_id           TEXT NOT NULL,
    usd_per_mtok_input          DOUBLE PRECISION NOT NULL CHECK (usd_per_mtok_input >= 0),
    usd_per_mtok_output         DOUBLE PRECISION NOT NULL CHECK (usd_per_mtok_output >= 0),
    context_length              BIGINT NOT NULL CHECK (context_length > 0),
    quantization                TEXT NOT NULL DEFAULT '',
    published_ttft_ms           DOUBLE PRECISION CHECK (published_ttft_ms >= 0),
    published_throughput_tok_s  DOUBLE PRECISION CHECK (published_throughput_tok_s >= 0),
    measured_ttft_ms            DOUBLE PRECISION,
    measured_throughput_tok_s   DOUBLE PRECISION,
    measured_success_rate       DOUBLE PRECISION,
    measured_samples            BIGINT NOT NULL DEFAULT 0,
    enabled                     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    UNIQUE (model_id, provider)
  );
  CREATE TABLE price_history (
    route_id             BIGINT NOT NULL REFERENCES routes(id) ON DELETE CASCADE,
    changed_at           TEXT NOT NULL DEFAULT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    usd_per_mtok_input   DOUBLE PRECISION NOT NULL,
    usd_per_mtok_output  DOUBLE PRECISION NOT NULL
  );
  CREATE FUNCTION routes_price_history() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    INSERT INTO price_history(route_id, usd_per_mtok_input, usd_per_mtok_output)
    VALUES (NEW.id, NEW.usd_per_mtok_input, NEW.usd_per_mtok_output);
    RETURN NULL;
  END $$;
  CREATE TRIGGER routes_price_history AFTER UPDATE OF usd_per_mtok_input, usd_per_mtok_output ON routes FOR EACH ROW
  WHEN (OLD.usd_per_mtok_input IS DISTINCT FROM NEW.usd_per_mtok_input OR OLD.usd_per_mtok_output IS DISTINCT FROM NEW.usd_per_mtok_output)
  EXECUTE FUNCTION routes_price_history();
  CREATE TABLE usage_ledger (
    id                 BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    request_id         TEXT NOT NULL,
    created_at_ms      BIGINT NOT NULL,
    api_key_id         TEXT NOT NULL DEFAULT '',
    requested_model    TEXT NOT NULL,
    route              TEXT NOT NULL DEFAULT '',
    prompt_tokens      BIGINT NOT NULL DEFAULT 0,
    completion_tokens  BIGINT NOT NULL DEFAULT 0,
    cost_usd           DOUBLE PRECISION NOT NULL DEFAULT 0,
    ttft_ms            DOUBLE PRECISION,
    duration_ms        DOUBLE PRECISION NOT NULL,
    status             INTEGER NOT NULL,
    error_code         TEXT NOT NULL DEFAULT '',
    routes_tried       TEXT NOT NULL DEFAULT '[]',
    stream             INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX usage_ledger_by_time ON usage_ledger(created_at_ms);
)sql";

// One function bumps the counter its trigger names; statement-level triggers, so an import of many rows
// bumps it once.
constexpr const char* kCatalogueVersionPostgres = R"sql(
  INSERT INTO gateway_meta(key, value) VALUES ('catalogue_version', '1');
  CREATE FUNCTION bump_meta_counter() RETURNS trigger LANGUAGE plpgsql AS $$
  BEGIN
    UPDATE gateway_meta SET value = (CAST(value AS BIGINT) + 1)::text WHERE key = TG_ARGV[0];
    RETURN NULL;
  END $$;
  CREATE TRIGGER providers_changed AFTER INSERT OR UPDATE OR DELETE ON providers
    FOR EACH STATEMENT EXECUTE FUNCTION bump_meta_counter('catalogue_version');
  CREATE TRIGGER models_changed AFTER INSERT OR UPDATE OR DELETE ON models
    FOR EACH STATEMENT EXECUTE FUNCTION bump_meta_counter('catalogue_version');
  CREATE TRIGGER model_aliases_changed AFTER INSERT OR UPDATE OR DELETE ON model_aliases
    FOR EACH STATEMENT EXECUTE FUNCTION bump_meta_counter('catalogue_version');
  CREATE TRIGGER routes_added_or_removed AFTER INSERT OR DELETE ON routes
    FOR EACH STATEMENT EXECUTE FUNCTION bump_meta_counter('catalogue_version');
  CREATE TRIGGER routes_changed AFTER UPDATE OF model_id, provider, upstream_model_id, usd_per_mtok_input, usd_per_mtok_output,
    context_length, quantization, published_ttft_ms, published_throughput_tok_s, enabled ON routes
    FOR EACH STATEMENT EXECUTE FUNCTION bump_meta_counter('catalogue_version');
)sql";

constexpr const char* kApiKeysPostgres = R"sql(
  CREATE TABLE api_keys (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL DEFAULT '',
    secret_sha256        TEXT NOT NULL UNIQUE,
    created_at_ms        BIGINT NOT NULL,
    revoked_at_ms        BIGINT,
    budget_usd_day       DOUBLE PRECISION CHECK (budget_usd_day >= 0),
    budget_usd_month     DOUBLE PRECISION CHECK (budget_usd_month >= 0),
    budget_usd_total     DOUBLE PRECISION CHECK (budget_usd_total >= 0),
    requests_per_minute  BIGINT CHECK (requests_per_minute > 0),
    tokens_per_minute    BIGINT CHECK (tokens_per_minute > 0)
  );
  CREATE TABLE api_key_models (
    key_id  TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    model   TEXT NOT NULL,
    PRIMARY KEY (key_id, model)
  );
  CREATE INDEX usage_ledger_by_key ON usage_ledger(api_key_id, created_at_ms);
  INSERT INTO gateway_meta(key, value) VALUES ('keys_version', '1');
  CREATE TRIGGER api_keys_changed AFTER INSERT OR UPDATE OR DELETE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION bump_meta_counter('keys_version');
  CREATE TRIGGER api_key_models_changed AFTER INSERT ON api_key_models
    FOR EACH STATEMENT EXECUTE FUNCTION bump_meta_counter('keys_version');
)sql";

}  // namespace

const std::vector<Migration>& schema_migrations() {
  static const std::string catalogue_version = catalogue_version_sql();
  static const std::vector<Migration> migrations = {
      {1, kMeta, kMetaPostgres},
      {2, kCatalogueAndLedger, kCatalogueAndLedgerPostgres},
      {3, kSeedCatalogue, nullptr},
      {4, catalogue_version.c_str(), kCatalogueVersionPostgres},
      {5, kSeedDialects, nullptr},
      {6, kApiKeys, kApiKeysPostgres},
      {7, kModelKind, nullptr},
  };
  return migrations;
}

}  // namespace mg::pricing
