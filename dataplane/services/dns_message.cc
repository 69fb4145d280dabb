// See dns_message.h.
#include "dataplane/services/dns_message.h"

namespace gp::dns {

namespace {
uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
void put16(std::vector<uint8_t>& b, uint16_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}
}  // namespace

std::optional<Query> parse_query(const uint8_t* p, size_t len) {
  if (!looks_like_query(p, len)) return std::nullopt;
  Query q;
  q.id = be16(p);
  q.recursion_desired = (p[2] & 0x01) != 0;
  size_t at = kHeaderLen;
  size_t wire = 0;  // the name's length in wire form, terminating zero included
  for (;;) {
    if (at >= len) return std::nullopt;
    const uint8_t l = p[at];
    if ((l & 0xc0) != 0) return std::nullopt;  // pointers (and the reserved 01/10 forms)
    wire += 1 + l;
    if (l > kMaxLabel || wire > kMaxName) return std::nullopt;
    ++at;
    if (l == 0) break;
    if (at + l > len) return std::nullopt;
    if (!q.name.empty()) q.name.push_back('.');
    for (size_t i = 0; i < l; ++i) q.name.push_back(static_cast<char>(p[at + i]));
    at += l;
  }
  if (q.name.empty()) q.name.push_back('.');
  if (at + 4 > len) return std::nullopt;
  q.qtype = be16(p + at);
  q.qclass = be16(p + at + 2);
  q.question.assign(p + kHeaderLen, p + at + 4);
  return q;
}

std::vector<uint8_t> build_error(const Query& q, Rcode rcode) {
  std::vector<uint8_t> b;
  b.reserve(kHeaderLen + q.question.size());
  put16(b, q.id);
  b.push_back(static_cast<uint8_t>(0x80 | (q.recursion_desired ? 0x01 : 0)));  // QR, RD
  b.push_back(static_cast<uint8_t>(0x80 | static_cast<uint8_t>(rcode)));       // RA, RCODE
  put16(b, 1);  // the question, echoed
  put16(b, 0);
  put16(b, 0);
  put16(b, 0);
  b.insert(b.end(), q.question.begin(), q.question.end());
  return b;
}

}  // namespace gp::dns
