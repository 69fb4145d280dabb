// See dhcp_message.h.
#include "dataplane/services/dhcp_message.h"

#include <cstring>

namespace gp::dhcp {

namespace {
constexpr uint8_t kCookie[4] = {99, 130, 83, 99};
enum Opt : uint8_t {
  kPad = 0,
  kSubnetMask = 1,
  kRouter = 3,
  kDns = 6,
  kHostname = 12,
  kRequestedIp = 50,
  kLeaseTime = 51,
  kMsgType = 53,
  kServerId = 54,
  kMessage = 56,
  kClientId = 61,
  kEnd = 255,
};

uint32_t rd32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
uint16_t rd16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
void wr32(std::vector<uint8_t>& v, size_t at, uint32_t x) {
  v[at] = uint8_t(x >> 24), v[at + 1] = uint8_t(x >> 16), v[at + 2] = uint8_t(x >> 8),
  v[at + 3] = uint8_t(x);
}
void opt32(std::vector<uint8_t>& v, uint8_t code, uint32_t x) {
  v.push_back(code);
  v.push_back(4);
  v.resize(v.size() + 4);
  wr32(v, v.size() - 4, x);
}
void opt_bytes(std::vector<uint8_t>& v, uint8_t code, const uint8_t* p, size_t n) {
  n = n > 255 ? 255 : n;
  v.push_back(code);
  v.push_back(static_cast<uint8_t>(n));
  v.insert(v.end(), p, p + n);
}

std::vector<uint8_t> header(uint8_t op, uint32_t xid, uint16_t flags, uint32_t ciaddr,
                            uint32_t yiaddr, uint32_t siaddr, uint32_t giaddr,
                            const std::array<uint8_t, 6>& chaddr) {
  // Sized for the fixed part and the cookie at once: GCC 12 at -O3 warns (-Warray-bounds,
  // a false positive) about inserting the cookie after a vector of exactly kFixedLen.
  std::vector<uint8_t> v(kFixedLen + sizeof(kCookie), 0);
  v[0] = op;
  v[1] = 1;  // Ethernet
  v[2] = 6;
  wr32(v, 4, xid);
  v[10] = uint8_t(flags >> 8), v[11] = uint8_t(flags);
  wr32(v, 12, ciaddr);
  wr32(v, 16, yiaddr);
  wr32(v, 20, siaddr);
  wr32(v, 24, giaddr);
  std::memcpy(&v[28], chaddr.data(), 6);
  std::memcpy(&v[kFixedLen], kCookie, sizeof(kCookie));
  return v;
}
}  // namespace

std::optional<Request> parse_request(const uint8_t* p, size_t len) {
  if (p == nullptr || len < kFixedLen + 4) return std::nullopt;
  if (p[0] != 1 || p[1] != 1 || p[2] != 6) return std::nullopt;  // BOOTREQUEST, Ethernet
  if (std::memcmp(p + kFixedLen, kCookie, 4) != 0) return std::nullopt;
  Request r{};
  r.xid = rd32(p + 4);
  r.flags = rd16(p + 10);
  r.ciaddr = rd32(p + 12);
  r.giaddr = rd32(p + 24);
  std::memcpy(r.chaddr.data(), p + 28, 6);
  std::optional<uint8_t> type;
  size_t i = kFixedLen + 4;
  while (i < len) {
    const uint8_t code = p[i++];
    if (code == kPad) continue;
    if (code == kEnd) break;
    if (i >= len) return std::nullopt;
    const size_t n = p[i++];
    if (i + n > len) return std::nullopt;  // option overruns the packet
    const uint8_t* v = p + i;
    switch (code) {
      case kMsgType:
        if (n != 1) return std::nullopt;
        type = v[0];
        break;
      case kRequestedIp:
        if (n != 4) return std::nullopt;
        r.requested_ip = rd32(v);
        break;
      case kServerId:
        if (n != 4) return std::nullopt;
        r.server_id = rd32(v);
        break;
      case kClientId:
        r.client_id.assign(v, v + n);
        break;
      case kHostname:
        for (size_t k = 0; k < n; ++k)
          r.hostname.push_back(v[k] >= 0x20 && v[k] < 0x7f ? static_cast<char>(v[k]) : '?');
        break;
      default:
        break;
    }
    i += n;
  }
  if (!type || *type < 1 || *type > 8) return std::nullopt;
  r.type = static_cast<MsgType>(*type);
  return r;
}

std::vector<uint8_t> build_reply(const Reply& r) {
  std::vector<uint8_t> v = header(2, r.xid, r.flags, r.ciaddr, r.yiaddr, 0, r.giaddr, r.chaddr);
  const uint8_t t = static_cast<uint8_t>(r.type);
  opt_bytes(v, kMsgType, &t, 1);
  opt32(v, kServerId, r.server_id);
  if (r.lease_s) opt32(v, kLeaseTime, *r.lease_s);
  if (r.subnet_mask) opt32(v, kSubnetMask, *r.subnet_mask);
  if (r.router) opt32(v, kRouter, *r.router);
  if (!r.dns.empty()) {
    std::vector<uint8_t> d;
    for (uint32_t a : r.dns)
      d.insert(d.end(), {uint8_t(a >> 24), uint8_t(a >> 16), uint8_t(a >> 8), uint8_t(a)});
    opt_bytes(v, kDns, d.data(), d.size());
  }
  if (!r.message.empty())
    opt_bytes(v, kMessage, reinterpret_cast<const uint8_t*>(r.message.data()), r.message.size());
  v.push_back(kEnd);
  if (v.size() < kMinReplyLen) v.resize(kMinReplyLen, 0);
  return v;
}

std::vector<uint8_t> build_request(const Request& r) {
  std::vector<uint8_t> v = header(1, r.xid, r.flags, r.ciaddr, 0, 0, r.giaddr, r.chaddr);
  const uint8_t t = static_cast<uint8_t>(r.type);
  opt_bytes(v, kMsgType, &t, 1);
  if (r.requested_ip) opt32(v, kRequestedIp, *r.requested_ip);
  if (r.server_id) opt32(v, kServerId, *r.server_id);
  if (!r.client_id.empty()) opt_bytes(v, kClientId, r.client_id.data(), r.client_id.size());
  if (!r.hostname.empty())
    opt_bytes(v, kHostname, reinterpret_cast<const uint8_t*>(r.hostname.data()), r.hostname.size());
  v.push_back(kEnd);
  return v;
}

}  // namespace gp::dhcp
