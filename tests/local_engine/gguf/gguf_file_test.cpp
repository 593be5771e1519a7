#include "local_engine/gguf/gguf_file.h"

#include <unistd.h>

#include <filesystem>
#include <gtest/gtest.h>

#include "tests/local_engine/gguf/gguf_test_files.h"

namespace mg::engine {
namespace {

using test::get;
using test::put;

std::string parse_error(std::vector<std::byte> bytes) {
  try {
    GgufFile::parse(std::move(bytes), "test.gguf");
  } catch (const GgufError& e) {
    return e.what();
  }
  return "parsed";
}

TEST(GgufFileTest, ReadsBackEveryValueTypeAndTensor) {
  GgufFile file = GgufFile::parse(test::sample_writer().bytes());
  EXPECT_EQ(file.version(), 3u);
  EXPECT_EQ(file.alignment(), 32u);
  EXPECT_EQ(file.get_string("general.architecture"), "llama");
  EXPECT_EQ(file.get_uint("llama.block_count"), 2u);
  EXPECT_EQ(file.get_uint("llama.context_length"), 4096u);
  EXPECT_NEAR(*file.get_float("llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-12);
  EXPECT_EQ(file.get_bool("tokenizer.ggml.add_bos_token"), true);
  EXPECT_FALSE(file.get_uint("llama.missing").has_value());

  const GgufArray* tokens = file.get_array("tokenizer.ggml.tokens");
  ASSERT_NE(tokens, nullptr);
  ASSERT_EQ(tokens->strings.size(), 4u);
  EXPECT_EQ(tokens->strings[3], "\xe2\x96\x81hello");
  EXPECT_EQ(file.get_array("tokenizer.ggml.scores")->number_at(3), -1.5);
  EXPECT_EQ(file.get_array("tokenizer.ggml.token_type")->integer_at(0), 2);

  ASSERT_EQ(file.tensors().size(), 4u);
  const GgufTensorInfo* q = file.find_tensor("blk.0.attn_q.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->type, GgmlType::q4_k);
  EXPECT_EQ(q->shape_text(), "[256, 2]");
  EXPECT_EQ(q->bytes, 288u);
  EXPECT_EQ(q->file_offset % 32, 0u);
  auto data = file.tensor_bytes(*q);
  auto expected = test::counting_bytes(288);
  EXPECT_TRUE(std::equal(data.begin(), data.end(), expected.begin(), expected.end()));
}

TEST(GgufFileTest, HonoursACustomAlignment) {
  GgufFile file = GgufFile::parse(test::sample_writer(64).bytes());
  EXPECT_EQ(file.alignment(), 64u);
  EXPECT_EQ(file.data_offset() % 64, 0u);
  for (const GgufTensorInfo& tensor : file.tensors()) EXPECT_EQ(tensor.file_offset % 64, 0u) << tensor.name;
}

TEST(GgufFileTest, OpensAndMapsAFileOnDisk) {
  auto path = std::filesystem::temp_directory_path() / ("mg_gguf_test_" + std::to_string(::getpid()) + ".gguf");
  test::sample_writer().write(path);
  {
    GgufFile file = GgufFile::open(path);
    EXPECT_EQ(file.file_size(), std::filesystem::file_size(path));
    EXPECT_EQ(file.tensor_bytes(*file.find_tensor("output_norm.weight")).size(), 128u);
  }
  std::filesystem::remove(path);
  EXPECT_THROW(GgufFile::open(path), GgufError);
}

TEST(GgufFileTest, TypedGettersRefuseTheWrongType) {
  GgufFile file = GgufFile::parse(test::sample_writer().bytes());
  EXPECT_THROW(file.get_uint("general.architecture"), GgufError);
  EXPECT_THROW(file.get_uint("llama.some_signed"), GgufError);  // negative
  EXPECT_EQ(file.get_float("llama.some_signed"), -5.0);
  EXPECT_THROW(file.get_string("llama.block_count"), GgufError);
  EXPECT_THROW(file.get_array("llama.block_count"), GgufError);
  EXPECT_THROW(file.get_array("tokenizer.ggml.tokens")->number_at(0), GgufError);
  EXPECT_THROW(file.get_array("tokenizer.ggml.scores")->integer_at(0), GgufError);
  EXPECT_THROW(file.get_array("tokenizer.ggml.scores")->number_at(4), GgufError);
}

TEST(GgufFileTest, EveryTruncationIsAnErrorThatSaysSo) {
  std::vector<std::byte> whole = test::sample_writer().bytes();
  // Only the padding after the last tensor may go: every byte before it is needed.
  GgufFile parsed = GgufFile::parse(whole);
  std::size_t needed = parsed.tensors().back().file_offset + parsed.tensors().back().bytes;
  for (std::size_t length = 0; length < needed; ++length) {
    std::vector<std::byte> cut(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(length));
    std::string error = parse_error(cut);
    ASSERT_NE(error, "parsed") << "a file cut to " << length << " bytes was accepted";
    if (length >= 8) {
      EXPECT_TRUE(error.find("truncated") != std::string::npos || error.find("ends") != std::string::npos) << error;
    }
  }
}

TEST(GgufFileTest, RejectsOtherFilesAndVersions) {
  std::vector<std::byte> bytes = test::sample_writer().bytes();
  auto with = [&](std::size_t at, std::uint32_t value) {
    auto copy = bytes;
    put(copy, at, value);
    return parse_error(copy);
  };
  EXPECT_NE(with(0, 0x464c457f).find("not a GGUF file"), std::string::npos);
  EXPECT_NE(with(4, 1).find("version 1 is not supported"), std::string::npos);
  EXPECT_NE(with(4, 0x03000000).find("big-endian"), std::string::npos);
  EXPECT_NE(with(4, 7).find("unknown GGUF version 7"), std::string::npos);
  EXPECT_EQ(with(4, 2), "parsed");  // version 2 has the same layout
}

TEST(GgufFileTest, RejectsCountsTheFileCannotHold) {
  std::vector<std::byte> bytes = test::sample_writer().bytes();
  auto tensors = bytes;
  put<std::uint64_t>(tensors, 8, 1ull << 60);
  EXPECT_NE(parse_error(tensors).find("claims 1152921504606846976 tensors"), std::string::npos);
  auto entries = bytes;
  put<std::uint64_t>(entries, 16, 1ull << 62);
  EXPECT_NE(parse_error(entries).find("metadata entries"), std::string::npos);
  // The token array's length, just after its element type.
  auto array = bytes;
  std::size_t key = test::find_text(array, "tokenizer.ggml.tokens");
  put<std::uint64_t>(array, key + 21 + 4 + 4, 1ull << 61);
  EXPECT_NE(parse_error(array).find("strings in array 'tokenizer.ggml.tokens'"), std::string::npos);
  // A string length beyond the end.
  auto text = bytes;
  put<std::uint64_t>(text, key + 21 + 4 + 4 + 8, 1ull << 40);
  EXPECT_NE(parse_error(text).find("truncated"), std::string::npos);
}

TEST(GgufFileTest, RejectsBadMetadata) {
  std::vector<std::byte> bytes = test::sample_writer().bytes();
  std::size_t arch_type = test::find_text(bytes, "general.architecture") + 20;
  auto unknown = bytes;
  put<std::uint32_t>(unknown, arch_type, 13);
  EXPECT_NE(parse_error(unknown).find("not a GGUF value type"), std::string::npos);

  std::size_t tokens = test::find_text(bytes, "tokenizer.ggml.tokens");
  auto nested = bytes;
  put<std::uint32_t>(nested, tokens + 21 + 4, 9);
  EXPECT_NE(parse_error(nested).find("holds arrays"), std::string::npos);

  GgufWriter alignment;
  alignment.set_uint32("general.alignment", 48);
  EXPECT_NE(parse_error(alignment.bytes()).find("power of two"), std::string::npos);
  GgufWriter wrong_type;
  wrong_type.set_uint64("general.alignment", 64);
  EXPECT_NE(parse_error(wrong_type.bytes()).find("uint32"), std::string::npos);
}

TEST(GgufFileTest, RejectsADuplicateKey) {
  GgufWriter writer;
  writer.set_uint32("a.key", 1);
  writer.set_uint32("b.key", 2);
  auto bytes = writer.bytes();
  bytes[test::find_text(bytes, "b.key")] = std::byte{'a'};
  EXPECT_NE(parse_error(bytes).find("'a.key' appears twice"), std::string::npos);
}

// Offsets of the fields of a tensor info, found from its name.
struct InfoFields {
  std::size_t dimensions, first_extent, type, offset;
};

InfoFields info_fields(const std::vector<std::byte>& bytes, const std::string& name, std::uint32_t dimensions) {
  std::size_t at = test::find_text(bytes, name) + name.size();
  return {at, at + 4, at + 4 + 8 * dimensions, at + 4 + 8 * dimensions + 4};
}

TEST(GgufFileTest, RejectsBadTensorInfos) {
  std::vector<std::byte> bytes = test::sample_writer().bytes();
  InfoFields q = info_fields(bytes, "blk.0.attn_q.weight", 2);
  auto edit = [&](std::size_t at, auto value) {
    auto copy = bytes;
    put(copy, at, value);
    return parse_error(copy);
  };
  EXPECT_NE(edit(q.dimensions, std::uint32_t{5}).find("5 dimensions; expected 1 to 4"), std::string::npos);
  EXPECT_NE(edit(q.dimensions, std::uint32_t{0}).find("0 dimensions"), std::string::npos);
  EXPECT_NE(edit(q.first_extent, std::uint64_t{0}).find("zero dimension"), std::string::npos);
  EXPECT_NE(edit(q.first_extent, std::uint64_t{100}).find("multiple of its block size 256"), std::string::npos);
  EXPECT_NE(edit(q.first_extent, std::uint64_t{1} << 62).find("too many elements"), std::string::npos);
  EXPECT_NE(edit(q.type, std::uint32_t{4}).find("type id 4, which is not a ggml tensor type"), std::string::npos);
  EXPECT_NE(edit(q.offset, std::uint64_t{33}).find("not a multiple of the alignment 32"), std::string::npos);
  EXPECT_NE(edit(q.offset, std::uint64_t{1} << 40).find("runs past the end of the file"), std::string::npos);
  EXPECT_NE(edit(q.offset, std::uint64_t{0}).find("overlap"), std::string::npos);

  GgufWriter twice;
  twice.add_tensor("t.a", {4}, GgmlType::f32, test::counting_bytes(16));
  twice.add_tensor("t.b", {4}, GgmlType::f32, test::counting_bytes(16));
  auto same_name = twice.bytes();
  same_name[test::find_text(same_name, "t.b") + 2] = std::byte{'a'};
  EXPECT_NE(parse_error(same_name).find("tensor 't.a' appears twice"), std::string::npos);
}

TEST(GgufFileTest, AcceptsTypesTheEngineCannotComputeButNamesThem) {
  GgufWriter writer;
  writer.add_tensor("odd.weight", {256}, GgmlType::iq2_xs, test::counting_bytes(74));
  GgufFile file = GgufFile::parse(writer.bytes());
  EXPECT_FALSE(traits_of(file.tensors()[0].type).weights_supported);
  EXPECT_EQ(traits_of(file.tensors()[0].type).name, "IQ2_XS");
}

TEST(GgufFileTest, AFileWithNothingInItIsValid) {
  GgufFile file = GgufFile::parse(GgufWriter().bytes());
  EXPECT_TRUE(file.metadata().empty());
  EXPECT_TRUE(file.tensors().empty());
}

}  // namespace
}  // namespace mg::engine
