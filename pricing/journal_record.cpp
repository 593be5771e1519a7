#include "pricing/journal_record.h"

#include <cstring>
#include <optional>

#include <boost/crc.hpp>

namespace mg::pricing {
namespace {

constexpr std::uint8_t kPayloadVersion = 1;

template <typename T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

void put_text(std::string& out, const std::string& text) {
  put(out, static_cast<std::uint32_t>(text.size()));
  out += text;
}

std::uint32_t crc32_of(std::string_view bytes) {
  boost::crc_32_type crc;
  crc.process_bytes(bytes.data(), bytes.size());
  return crc.checksum();
}

// Reads a payload field by field; every read checks the bytes left, and one that fails leaves the
// reader failed for good (the payload is then skipped whole).
class PayloadReader {
 public:
  explicit PayloadReader(std::string_view bytes) : bytes_(bytes) {}

  template <typename T>
  T take() {
    T value{};
    if (!ok_ || bytes_.size() < sizeof(T)) {
      ok_ = false;
      return value;
    }
    std::memcpy(&value, bytes_.data(), sizeof(T));
    bytes_.remove_prefix(sizeof(T));
    return value;
  }

  std::string take_text() {
    auto size = take<std::uint32_t>();
    if (!ok_ || bytes_.size() < size) {
      ok_ = false;
      return {};
    }
    std::string text(bytes_.substr(0, size));
    bytes_.remove_prefix(size);
    return text;
  }

  bool finished_whole() const { return ok_ && bytes_.empty(); }

 private:
  std::string_view bytes_;
  bool ok_ = true;
};

std::optional<LedgerRecord> parse_payload(std::string_view payload) {
  PayloadReader reader(payload);
  if (reader.take<std::uint8_t>() != kPayloadVersion) return std::nullopt;
  LedgerRecord row;
  row.request_id = reader.take_text();
  row.created_at_ms = reader.take<std::int64_t>();
  row.api_key_id = reader.take_text();
  row.requested_model = reader.take_text();
  row.route = reader.take_text();
  row.prompt_tokens = reader.take<std::int64_t>();
  row.completion_tokens = reader.take<std::int64_t>();
  row.cost_usd = reader.take<double>();
  if (reader.take<std::uint8_t>() != 0) row.ttft_ms = reader.take<double>();
  row.duration_ms = reader.take<double>();
  row.status = reader.take<std::int32_t>();
  row.error_code = reader.take_text();
  row.routes_tried_json = reader.take_text();
  row.stream = reader.take<std::uint8_t>() != 0;
  if (!reader.finished_whole()) return std::nullopt;
  return row;
}

// The row framed at `bytes`' start, or nullopt when no whole, intact frame starts there.
std::optional<LedgerRecord> frame_at(std::string_view bytes, std::size_t& frame_bytes) {
  PayloadReader header(bytes.substr(0, kJournalFrameHeaderBytes));
  auto magic = header.take<std::uint32_t>();
  auto payload_bytes = header.take<std::uint32_t>();
  auto crc = header.take<std::uint32_t>();
  if (!header.finished_whole() || magic != kJournalFrameMagic || payload_bytes > kJournalMaxPayloadBytes ||
      bytes.size() - kJournalFrameHeaderBytes < payload_bytes) {
    return std::nullopt;
  }
  std::string_view payload = bytes.substr(kJournalFrameHeaderBytes, payload_bytes);
  if (crc32_of(payload) != crc) return std::nullopt;
  frame_bytes = kJournalFrameHeaderBytes + payload_bytes;
  return parse_payload(payload);
}

}  // namespace

bool append_journal_frame(const LedgerRecord& row, std::string& out) {
  const std::size_t frame_start = out.size();
  out.append(kJournalFrameHeaderBytes, '\0');  // filled in once the payload's size and CRC are known
  put(out, kPayloadVersion);
  put_text(out, row.request_id);
  put(out, row.created_at_ms);
  put_text(out, row.api_key_id);
  put_text(out, row.requested_model);
  put_text(out, row.route);
  put(out, row.prompt_tokens);
  put(out, row.completion_tokens);
  put(out, row.cost_usd);
  put(out, static_cast<std::uint8_t>(row.ttft_ms.has_value()));
  if (row.ttft_ms) put(out, *row.ttft_ms);
  put(out, row.duration_ms);
  put(out, static_cast<std::int32_t>(row.status));
  put_text(out, row.error_code);
  put_text(out, row.routes_tried_json);
  put(out, static_cast<std::uint8_t>(row.stream));

  const std::size_t payload_bytes = out.size() - frame_start - kJournalFrameHeaderBytes;
  if (payload_bytes > kJournalMaxPayloadBytes) {
    out.resize(frame_start);
    return false;
  }
  const std::uint32_t header[3] = {kJournalFrameMagic, static_cast<std::uint32_t>(payload_bytes),
                                   crc32_of(std::string_view(out).substr(frame_start + kJournalFrameHeaderBytes))};
  static_assert(sizeof header == kJournalFrameHeaderBytes);
  std::memcpy(out.data() + frame_start, header, sizeof header);
  return true;
}

DecodedJournal decode_journal(std::string_view bytes) {
  char magic[sizeof kJournalFrameMagic];
  std::memcpy(magic, &kJournalFrameMagic, sizeof magic);
  const std::string_view magic_bytes(magic, sizeof magic);
  DecodedJournal decoded;
  bool in_damage = false;
  for (std::size_t at = 0; at < bytes.size();) {
    std::size_t frame_bytes = 0;
    if (std::optional<LedgerRecord> row = frame_at(bytes.substr(at), frame_bytes)) {
      decoded.rows.push_back(std::move(*row));
      at += frame_bytes;
      in_damage = false;
      continue;
    }
    // Not a whole frame here: skip to the next place the magic number appears.
    if (!in_damage) ++decoded.damaged_spans;
    in_damage = true;
    std::size_t next = bytes.find(magic_bytes, at + 1);
    if (next == std::string_view::npos) next = bytes.size();
    decoded.damaged_bytes += next - at;
    at = next;
  }
  return decoded;
}

}  // namespace mg::pricing
