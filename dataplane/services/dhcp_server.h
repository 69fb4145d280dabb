// The appliance's DHCP server for one network (RFC 2131 server behaviour): address
// choice, offers, leases that stay with a MAC, NAK, release, decline and inform.
// Pure logic with an injected clock (seconds); the slow path feeds it parsed requests
// and sends what it answers. Single-threaded: owned by the control thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/services/dhcp_message.h"

namespace gp::dhcp {

struct Settings {
  uint32_t server_ip = 0;  // host byte order throughout
  uint32_t netmask = 0;
  uint32_t lower = 0, upper = 0;  // the pool, inclusive
  std::optional<uint32_t> router;
  std::vector<uint32_t> dns;
  uint32_t lease_s = 3600;
  std::vector<uint32_t> reserved;  // never handed out (gateway, DNS, host interface)
};

enum class LeaseState : uint8_t { kOffered, kBound, kReleased, kDeclined };
const char* lease_state_name(LeaseState s);

struct Lease {
  std::array<uint8_t, 6> mac{};
  uint32_t ip = 0;
  LeaseState state = LeaseState::kOffered;
  uint64_t expires_s = 0;
  std::string hostname;
};

class Server {
 public:
  static constexpr uint64_t kOfferHoldS = 30;

  explicit Server(Settings s) : s_(std::move(s)) {}
  // New settings (re-apply): leases outside the new pool are forgotten.
  void reconfigure(Settings s);
  const Settings& settings() const { return s_; }

  // The reply to send, if any (a REQUEST for another server gets none).
  std::optional<Reply> handle(const Request& req, uint64_t now_s);

  const std::map<uint32_t, Lease>& leases() const { return by_ip_; }
  uint64_t naks() const { return naks_; }
  uint64_t pool_exhausted() const { return exhausted_; }

 private:
  bool in_pool(uint32_t ip) const;
  bool free_for(uint32_t ip, const std::array<uint8_t, 6>& mac, uint64_t now) const;
  std::optional<uint32_t> choose(const Request& req, uint64_t now);
  Reply base(const Request& req, MsgType t) const;
  Reply nak(const Request& req, const char* why);
  void bind(uint32_t ip, const Request& req, LeaseState st, uint64_t expires);

  Settings s_;
  std::map<uint32_t, Lease> by_ip_;
  std::map<uint64_t, uint32_t> by_mac_;  // the address a MAC had last: stable leases
  uint64_t naks_ = 0, exhausted_ = 0;
};

}  // namespace gp::dhcp
