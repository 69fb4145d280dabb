// DNS (RFC 1035) messages, as far as the appliance's DNS proxy needs them: a cheap
// header check for the fast path (is this a query at all?), full parsing of a query's
// question (labels, lengths, no compression pointers where RFC 1035 puts none), and
// building of an error answer that echoes the question (SERVFAIL when the uplink has no
// resolver to forward to). The answers themselves come from the upstream resolvers,
// untouched: the proxy forwards by DNAT. Pure functions on byte buffers; no DPDK.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gp::dns {

inline constexpr uint16_t kPort = 53;
inline constexpr size_t kHeaderLen = 12;
inline constexpr size_t kMaxName = 255;  // RFC 1035 2.3.4, in wire form
inline constexpr size_t kMaxLabel = 63;

enum class Rcode : uint8_t { kNoError = 0, kFormErr = 1, kServFail = 2, kRefused = 5 };

// Fast path: a message that claims to be a standard query with a question. Looks at the
// 12-byte header only.
inline bool looks_like_query(const uint8_t* p, size_t len) noexcept {
  if (len < kHeaderLen) return false;
  const bool is_response = (p[2] & 0x80) != 0;
  const uint8_t opcode = (p[2] >> 3) & 0x0f;
  const uint16_t qdcount = static_cast<uint16_t>(p[4] << 8 | p[5]);
  return !is_response && opcode == 0 && qdcount >= 1;
}

struct Query {
  uint16_t id = 0;
  bool recursion_desired = false;
  std::string name;  // dotted, case kept as sent; "." for the root (for views and logs)
  uint16_t qtype = 0, qclass = 0;
  std::vector<uint8_t> question;  // the question as sent (wire form), for echoing
};

// The first question of a standard query; nullopt for anything malformed (truncated,
// a response, another opcode, no question, label or name too long, a compression
// pointer in the question).
std::optional<Query> parse_query(const uint8_t* p, size_t len);

// An answer with `rcode` and no records, echoing the query's id, RD and question.
std::vector<uint8_t> build_error(const Query& q, Rcode rcode);

}  // namespace gp::dns
