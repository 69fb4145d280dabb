// DHCP (RFC 2131) messages and the options of RFC 2132 that the appliance's server
// uses: parsing of what a client sends (never trusting its lengths) and building of
// replies. Pure functions on byte buffers; no DPDK, no I/O. Used by the slow path.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gp::dhcp {

enum class MsgType : uint8_t {
  kDiscover = 1,
  kOffer = 2,
  kRequest = 3,
  kDecline = 4,
  kAck = 5,
  kNak = 6,
  kRelease = 7,
  kInform = 8,
};

inline constexpr uint16_t kServerPort = 67;
inline constexpr uint16_t kClientPort = 68;
inline constexpr size_t kFixedLen = 236;     // BOOTP header before the magic cookie
inline constexpr size_t kMinReplyLen = 300;  // BOOTP minimum, some clients insist
inline constexpr uint16_t kFlagBroadcast = 0x8000;

// What the server needs from a client's message. Addresses in host byte order.
struct Request {
  MsgType type;
  uint32_t xid = 0;
  uint16_t flags = 0;
  uint32_t ciaddr = 0;
  uint32_t giaddr = 0;
  std::array<uint8_t, 6> chaddr{};
  std::optional<uint32_t> requested_ip;  // option 50
  std::optional<uint32_t> server_id;     // option 54
  std::vector<uint8_t> client_id;        // option 61, kept for the lease view
  std::string hostname;                  // option 12
};

// Parses a BOOTREQUEST from a UDP payload. Returns nullopt for anything malformed:
// short, not a request, not Ethernet, bad cookie, options overrunning, no type.
std::optional<Request> parse_request(const uint8_t* p, size_t len);

struct Reply {
  MsgType type;
  uint32_t xid = 0;
  uint16_t flags = 0;
  uint32_t ciaddr = 0;
  uint32_t yiaddr = 0;
  uint32_t giaddr = 0;
  std::array<uint8_t, 6> chaddr{};
  uint32_t server_id = 0;
  std::optional<uint32_t> subnet_mask;
  std::optional<uint32_t> router;
  std::vector<uint32_t> dns;
  std::optional<uint32_t> lease_s;
  std::string message;  // option 56, for NAKs
};

// Builds a BOOTREPLY payload (padded to kMinReplyLen).
std::vector<uint8_t> build_reply(const Reply& r);

// For tests and tools: builds a client message.
std::vector<uint8_t> build_request(const Request& r);

}  // namespace gp::dhcp
