#include "gateway/api_key_secrets.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <stdexcept>

namespace mg::gateway {
namespace {

constexpr std::string_view kKeyPrefix = "mgk_";
constexpr std::string_view kIdPrefix = "key_";
constexpr std::size_t kIdHexDigits = 12;
constexpr std::size_t kSecretHexDigits = 48;

std::string to_hex(const unsigned char* bytes, std::size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex(size * 2, '0');
  for (std::size_t i = 0; i < size; ++i) {
    hex[2 * i] = kDigits[bytes[i] >> 4];
    hex[2 * i + 1] = kDigits[bytes[i] & 15];
  }
  return hex;
}

std::string random_hex_digits(std::size_t digits) {
  std::string bytes(digits / 2, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(bytes.size())) != 1) {
    throw std::runtime_error("the system's random source failed; cannot make an API key");
  }
  return to_hex(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
}

bool is_lower_hex(std::string_view text) {
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

std::string sha256_hex(std::string_view text) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  return to_hex(digest.data(), digest.size());
}

GeneratedApiKey generate_api_key() {
  std::string id_hex = random_hex_digits(kIdHexDigits);
  GeneratedApiKey key;
  key.id = std::string(kIdPrefix) + id_hex;
  key.key = std::string(kKeyPrefix) + id_hex + "_" + random_hex_digits(kSecretHexDigits);
  key.secret_sha256 = sha256_hex(key.key);
  return key;
}

std::optional<std::string> api_key_id_of(std::string_view presented) {
  if (presented.size() != kKeyPrefix.size() + kIdHexDigits + 1 + kSecretHexDigits || !presented.starts_with(kKeyPrefix)) return std::nullopt;
  std::string_view id_hex = presented.substr(kKeyPrefix.size(), kIdHexDigits);
  if (presented[kKeyPrefix.size() + kIdHexDigits] != '_' || !is_lower_hex(id_hex)) return std::nullopt;
  return std::string(kIdPrefix) + std::string(id_hex);
}

bool constant_time_equals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool api_key_matches(std::string_view presented, std::string_view stored_sha256_hex) {
  return constant_time_equals(sha256_hex(presented), stored_sha256_hex);
}

std::optional<std::string_view> bearer_token(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size()) return std::nullopt;
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) return std::nullopt;
  }
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) return std::nullopt;
  return token;
}

}  // namespace mg::gateway
