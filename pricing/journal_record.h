// The byte format of one ledger row in the crash journal (pricing/ledger_journal.h): a frame that says
// where it starts, how long it is and what its bytes sum to, so that replay tells a whole row from a torn
// tail (the process or the machine died inside a write()) or damaged bytes, and skips those, never
// mis-reading them as a row.
//
//   frame   = magic u32 | payload_bytes u32 | crc32(payload) u32 | payload
//   payload = version u8 | request_id str | created_at_ms i64 | api_key_id str | requested_model str | route str
//             | prompt_tokens i64 | completion_tokens i64 | cost_usd f64 | has_ttft u8 [ttft_ms f64] | duration_ms f64
//             | status i32 | error_code str | routes_tried_json str | stream u8
//   str     = bytes u32 | bytes
// Numbers are in the host's byte order: a journal is read back on the host that wrote it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pricing/ledger.h"

namespace mg::pricing {

inline constexpr std::uint32_t kJournalFrameMagic = 0x4A4C474D;  // "MGLJ" in little-endian memory
inline constexpr std::size_t kJournalFrameHeaderBytes = 12;
inline constexpr std::size_t kJournalMaxPayloadBytes = 1 << 20;  // a row is a few hundred bytes

// Appends the framed row to `out`. Returns false (nothing appended) when the row's payload would pass
// kJournalMaxPayloadBytes.
bool append_journal_frame(const LedgerRecord& row, std::string& out);

struct DecodedJournal {
  std::vector<LedgerRecord> rows;  // every whole frame, in order
  std::size_t damaged_bytes = 0;   // bytes skipped: torn or damaged frames, and what lay between them
  std::size_t damaged_spans = 0;   // runs of such bytes
};

// Reads every whole frame of `bytes`. A frame that is cut short, fails its CRC or holds a payload that
// does not parse is skipped: reading goes on at the next magic number whose frame checks out.
DecodedJournal decode_journal(std::string_view bytes);

}  // namespace mg::pricing
