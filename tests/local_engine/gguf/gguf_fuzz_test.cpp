// Mutated and truncated GGUF files, many thousands of them, fed to the reader: each one must either load
// (and then every value and tensor byte it claims must be readable) or be rejected with a GgufError.
// Anything else (a crash, an ASan report, another exception) fails. Deterministic: a fixed seed.
#include <gtest/gtest.h>

#include <random>

#include "local_engine/gguf/gguf_file.h"
#include "tests/local_engine/gguf/gguf_test_files.h"

namespace mg::engine {
namespace {

constexpr int kFiles = 12'000;

// Values that make bounds arithmetic go wrong when they are not checked.
constexpr std::uint64_t kNastyNumbers[] = {0, 1, 3, 4, 5, 13, 31, 32, 255, 256, 0x7fffffff, 0x80000000, 0xffffffff, 1ull << 32, 1ull << 40,
                                           1ull << 62, 0x7fffffffffffffffull, 0x8000000000000000ull, 0xffffffffffffffffull};

class Mutator {
 public:
  explicit Mutator(std::uint64_t seed) : random_(seed) {}

  std::vector<std::byte> mutate(std::vector<std::byte> bytes) {
    int edits = 1 + static_cast<int>(pick(4));
    for (int i = 0; i < edits && !bytes.empty(); ++i) {
      switch (pick(6)) {
        case 0: bytes[pick(bytes.size())] ^= static_cast<std::byte>(1u << pick(8)); break;
        case 1: bytes[pick(bytes.size())] = static_cast<std::byte>(pick(256)); break;
        case 2: overwrite_number(bytes, 4); break;
        case 3: overwrite_number(bytes, 8); break;
        case 4: bytes.resize(pick(bytes.size())); break;
        case 5: duplicate_range(bytes); break;
      }
    }
    return bytes;
  }

 private:
  std::uint64_t pick(std::uint64_t bound) { return std::uniform_int_distribution<std::uint64_t>(0, bound - 1)(random_); }

  // Counts, lengths, types and offsets are 4- or 8-byte fields, mostly at 4-byte boundaries.
  void overwrite_number(std::vector<std::byte>& bytes, std::size_t width) {
    if (bytes.size() < width) return;
    std::size_t at = pick(bytes.size() - width + 1);
    if (pick(2) == 0) at &= ~std::size_t{3};
    std::uint64_t value = kNastyNumbers[pick(std::size(kNastyNumbers))];
    std::memcpy(bytes.data() + at, &value, width);
  }

  void duplicate_range(std::vector<std::byte>& bytes) {
    std::size_t from = pick(bytes.size());
    std::size_t length = std::min<std::size_t>(pick(64) + 1, bytes.size() - from);
    std::vector<std::byte> piece(bytes.begin() + static_cast<std::ptrdiff_t>(from), bytes.begin() + static_cast<std::ptrdiff_t>(from + length));
    bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(pick(bytes.size())), piece.begin(), piece.end());
  }

  std::mt19937_64 random_;
};

// Reads everything a loaded file offers, so that a bad bound anywhere shows up under ASan.
std::uint64_t touch_everything(const GgufFile& file) {
  std::uint64_t sum = 0;
  for (const auto& [key, value] : file.metadata()) {
    sum += key.size();
    if (auto array = std::get_if<GgufArray>(&value.value)) {
      for (std::string_view text : array->strings) sum += text.empty() ? 0 : static_cast<unsigned char>(text.back());
      if (array->element_type != GgufType::string && array->count > 0) sum += static_cast<std::uint64_t>(array->number_at(array->count - 1) != 0);
    }
  }
  for (const GgufTensorInfo& tensor : file.tensors()) {
    auto bytes = file.tensor_bytes(tensor);
    if (!bytes.empty()) sum += static_cast<std::uint64_t>(bytes.front()) + static_cast<std::uint64_t>(bytes.back());
  }
  return sum;
}

TEST(GgufFuzzTest, TwelveThousandMutatedFilesLoadOrFailCleanly) {
  std::vector<std::vector<std::byte>> seeds = {test::sample_writer().bytes(), test::sample_writer(64).bytes()};
  Mutator mutator(20261123);
  int loaded = 0;
  int rejected = 0;
  std::uint64_t checksum = 0;
  for (int i = 0; i < kFiles; ++i) {
    std::vector<std::byte> bytes = mutator.mutate(seeds[static_cast<std::size_t>(i) % seeds.size()]);
    try {
      GgufFile file = GgufFile::parse(std::move(bytes), "fuzz.gguf");
      checksum += touch_everything(file);
      ++loaded;
    } catch (const GgufError&) {
      ++rejected;
    }
  }
  EXPECT_EQ(loaded + rejected, kFiles);
  // Both outcomes must be common, or the mutations are not exercising the reader.
  EXPECT_GT(loaded, kFiles / 20);
  EXPECT_GT(rejected, kFiles / 4);
  RecordProperty("loaded", loaded);
  RecordProperty("checksum", std::to_string(checksum));
}

}  // namespace
}  // namespace mg::engine
