// The shape of client API keys and the only code that touches their secrets. A key reads
// "mgk_<12 hex: id>_<48 hex: 192 random bits>"; its public id is "key_<the same 12 hex>". The gateway
// stores and compares only SHA-256 digests, in constant time.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mg::gateway {

struct GeneratedApiKey {
  std::string id;             // "key_3f9a0c12d4e5"
  std::string key;            // what the client sends as its bearer token; shown once
  std::string secret_sha256;  // what the database keeps
};

// From the operating system's random source (OpenSSL's RAND_bytes). Throws if it fails.
GeneratedApiKey generate_api_key();

// The id a presented key claims, or nullopt when it is not shaped like a modelgate key.
std::optional<std::string> api_key_id_of(std::string_view presented);

// Whether `presented` hashes to `stored_sha256_hex`; the comparison takes the same time wherever they differ.
bool api_key_matches(std::string_view presented, std::string_view stored_sha256_hex);

// Lowercase hex SHA-256 of `text`.
std::string sha256_hex(std::string_view text);

// The token of an "Authorization: Bearer <token>" header (scheme in any case), or nullopt.
std::optional<std::string_view> bearer_token(std::string_view authorization);

// The same time whatever the contents, for equal sizes (an admin key against the configured one).
bool constant_time_equals(std::string_view a, std::string_view b);

}  // namespace mg::gateway
