// JSON test helpers shared by the JSON reader's and writer's tests and the chat_request fuzz target:
// a strict comparison of documents and a generator of random ones.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mg::test {

// json's operator== calls 1, 1u and 1.0 equal, and 0.0 and -0.0; here the types and signs must match too.
inline bool identical_json(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.type() != b.type() || a.size() != b.size()) return false;
  if (a.is_object()) {
    for (auto ia = a.begin(), ib = b.begin(); ia != a.end(); ++ia, ++ib) {
      if (ia.key() != ib.key() || !identical_json(*ia, *ib)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!identical_json(a[i], b[i])) return false;
    }
    return true;
  }
  if (a.is_number_float()) return std::signbit(a.get<double>()) == std::signbit(b.get<double>()) && a == b;
  return a == b;
}

// A random document of every kind of value: strings with escapes and characters of every UTF-8 length,
// numbers of the three kinds over wide ranges, nesting to a depth of about five.
inline nlohmann::json random_json(std::mt19937& random, int depth = 0) {
  std::uniform_int_distribution<int> kind(0, depth > 3 ? 5 : 7);
  switch (kind(random)) {
    case 0: return nullptr;
    case 1: return random() % 2 == 0;
    case 2: return static_cast<std::int64_t>(random()) - static_cast<std::int64_t>(random()) * 4096;
    case 3: return static_cast<std::uint64_t>(random()) << (random() % 33);
    case 4: return std::ldexp(static_cast<double>(random()) - 2e9, static_cast<int>(random() % 200) - 100);
    case 5: {
      static const std::vector<std::string> pieces = {"a", "Z", " ", "\"", "\\", "/", "\b", "\n", "\t", std::string("\0", 1), "\x1f", "\x7f",
                                                      "é", "日", "😀", "\xEF\xBF\xBD"};
      std::string text;
      for (int i = static_cast<int>(random() % 12); i > 0; --i) text += pieces[random() % pieces.size()];
      return text;
    }
    case 6: {
      nlohmann::json array = nlohmann::json::array();
      for (int i = static_cast<int>(random() % 5); i > 0; --i) array.push_back(random_json(random, depth + 1));
      return array;
    }
    default: {
      nlohmann::json object = nlohmann::json::object();
      for (int i = static_cast<int>(random() % 5); i > 0; --i) {
        object[std::string(1, static_cast<char>('a' + random() % 6))] = random_json(random, depth + 1);
      }
      return object;
    }
  }
}

}  // namespace mg::test
