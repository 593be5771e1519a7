#include "gateway/server_config.h"

#include <gtest/gtest.h>

#include "gateway/serve_command.h"

namespace mg::gateway {
namespace {

TEST(ServerConfigTest, DefaultsAreTheDocumentedOnes) {
  ServerConfig config;
  EXPECT_EQ(config.listen_host, "127.0.0.1");
  EXPECT_EQ(config.listen_port, 8080);
  EXPECT_EQ(config.http.max_body_bytes, 8u * 1024 * 1024);
  EXPECT_TRUE(config.validate());
}

TEST(ServerConfigTest, DialectsAndProviderSettingsComeFromTheConfigFile) {
  ServerConfig config;
  Status status = apply_config_json(R"({"dialects":{"corp":{"base":"vllm","auth_header":"api-key","auth_prefix":""}},
      "providers":{"vllm":{"api_key":"k1","dialect":"corp"},"groq":{"api_key":"k2"}},
      "routing":{"resume_streams":true}})", config);
  ASSERT_TRUE(status) << status.error().message;
  ASSERT_NE(config.dialects.find("corp"), nullptr);
  EXPECT_EQ(config.dialects.find("corp")->auth_header, "api-key");
  EXPECT_EQ(config.providers.at("vllm").dialect, "corp");
  EXPECT_EQ(config.providers.at("groq").api_key, "k2");
  EXPECT_TRUE(config.retry.resume_streams);
  ASSERT_NE(config.dialects.find("mistral"), nullptr);  // the presets stay
}

TEST(ServerConfigTest, TheLocalEngineIsOnByDefaultAndItsSettingsComeFromTheConfigFile) {
  ServerConfig config;
  EXPECT_TRUE(config.local.enabled);
  EXPECT_TRUE(config.local.demo());
  Status status = apply_config_json(R"({"local":{"model":"/models/m.gguf","model_id":"m","threads":2,"context":2048,"kv_cache_mib":512,
      "max_running":8,"max_queued":4,"usd_per_mtok_input":0.01,"usd_per_mtok_output":0.02}})", config);
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_FALSE(config.local.demo());
  EXPECT_EQ(config.local.model_id, "m");
  EXPECT_EQ(config.local.context, 2048);
  EXPECT_EQ(config.local.kv_cache_mib, 512);
  EXPECT_EQ(config.local.max_running, 8);
  EXPECT_EQ(config.local.max_queued, 4);
  EXPECT_DOUBLE_EQ(config.local.usd_per_mtok_output, 0.02);
  ASSERT_TRUE(apply_config_json(R"({"local":{"enabled":false}})", config));
  EXPECT_FALSE(config.local.enabled);
  Status typo = apply_config_json(R"({"local":{"modle":"x"}})", config);
  ASSERT_FALSE(typo);
  EXPECT_NE(typo.error().message.find("modle"), std::string::npos) << typo.error().message;
  EXPECT_FALSE(apply_config_json(R"({"local":{"max_running":0}})", config));
}

TEST(ServerConfigTest, ProviderSettingsNamingNoDialectAreRefused) {
  ServerConfig config;
  Status unknown = apply_config_json(R"({"providers":{"vllm":{"dialect":"nope"}}})", config);
  ASSERT_FALSE(unknown);
  EXPECT_NE(unknown.error().message.find("providers.vllm.dialect"), std::string::npos) << unknown.error().message;
  Status typo = apply_config_json(R"({"providers":{"vllm":{"apikey":"x"}}})", config);
  ASSERT_FALSE(typo);
  EXPECT_NE(typo.error().message.find("apikey"), std::string::npos) << typo.error().message;
  for (const char* bad : {R"({"providers":{"groq":"gsk_secret_value"}})", R"({"providers":{"groq":{"api_key":["gsk_secret_value"]}}})",
                          R"({"providers":{"groq":null}})"}) {
    Status refused = apply_config_json(bad, config);
    ASSERT_FALSE(refused) << bad;
    EXPECT_EQ(refused.error().message.find("gsk_secret_value"), std::string::npos) << "a key never reaches an error: " << refused.error().message;
  }
  Status bad_dialect = apply_config_json(R"({"dialects":{"d":{"drop":"seed"}}})", config);
  ASSERT_FALSE(bad_dialect);
  EXPECT_NE(bad_dialect.error().message.find("dialects.d.drop"), std::string::npos) << bad_dialect.error().message;
}

TEST(ServerConfigTest, ListenAddressForms) {
  ServerConfig config;
  ASSERT_TRUE(apply_listen_address("0.0.0.0:9000", config));
  EXPECT_EQ(config.listen_host, "0.0.0.0");
  EXPECT_EQ(config.listen_port, 9000);
  ASSERT_TRUE(apply_listen_address("[::1]:0", config));
  EXPECT_EQ(config.listen_host, "::1");
  EXPECT_EQ(config.listen_port, 0);
  EXPECT_FALSE(apply_listen_address("localhost", config));
  EXPECT_FALSE(apply_listen_address("127.0.0.1:70000", config));
  EXPECT_FALSE(apply_listen_address("127.0.0.1:80x", config));
}

TEST(ServerConfigTest, ConfigJsonOverridesDefaults) {
  ServerConfig config;
  EXPECT_EQ(config.io_spin.count(), 100);
  Status status = apply_config_json(R"({"listen":"127.0.0.1:9001","threads":3,"io_spin_us":0,
      "http":{"max_body_bytes":2048,"header_timeout_ms":250},"stream_keepalive_interval_ms":500,
      "fake_provider":{"slow_first_token_ms":10}})", config);
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_EQ(config.listen_port, 9001);
  EXPECT_EQ(config.io_threads, 3);
  EXPECT_EQ(config.io_spin.count(), 0);
  EXPECT_EQ(config.http.max_body_bytes, 2048u);
  EXPECT_EQ(config.http.header_timeout.count(), 250);
  EXPECT_EQ(config.stream_keepalive_interval.count(), 500);
  EXPECT_TRUE(config.fake_provider_enabled);
  EXPECT_EQ(config.fake_provider.slow_first_token.count(), 10);
}

TEST(ServerConfigTest, TyposAndBadValuesAreRejectedByName) {
  ServerConfig config;
  Status typo = apply_config_json(R"({"http":{"max_body_byte":10}})", config);
  ASSERT_FALSE(typo);
  EXPECT_NE(typo.error().message.find("'http.max_body_byte' is not a known setting"), std::string::npos) << typo.error().message;
  Status small = apply_config_json(R"({"http":{"max_body_bytes":10}})", config);
  ASSERT_FALSE(small);
  EXPECT_NE(small.error().message.find("http.max_body_bytes"), std::string::npos);
  EXPECT_FALSE(apply_config_json("{not json", config));
  EXPECT_FALSE(apply_config_file("/nonexistent/modelgate.json", config));
}

TEST(ServeArgsTest, FlagsWinOverTheConfigFile) {
  ServerConfig config;
  int exit_code = -1;
  ASSERT_TRUE(parse_serve_args({"--listen", "127.0.0.1:0", "--db=/tmp/a.db", "--threads", "4"}, config, exit_code));
  EXPECT_EQ(config.listen_port, 0);
  EXPECT_EQ(config.db_path, "/tmp/a.db");
  EXPECT_EQ(config.io_threads, 4);
}

TEST(ServeArgsTest, BadFlagsExitWithUsageError) {
  ServerConfig config;
  int exit_code = -1;
  EXPECT_FALSE(parse_serve_args({"--bogus"}, config, exit_code));
  EXPECT_EQ(exit_code, 2);
  EXPECT_FALSE(parse_serve_args({"--threads", "zero"}, config, exit_code));
  EXPECT_EQ(exit_code, 2);
  EXPECT_FALSE(parse_serve_args({"--db"}, config, exit_code));
  EXPECT_EQ(exit_code, 2);
}

}  // namespace
}  // namespace mg::gateway
