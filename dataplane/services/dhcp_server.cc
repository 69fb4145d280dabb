// See dhcp_server.h. Address choice, in order: the client's current or last address,
// the address it asks for, an address never handed out, the one expired longest ago.
#include "dataplane/services/dhcp_server.h"

#include <algorithm>

namespace gp::dhcp {

namespace {
uint64_t mac_key(const std::array<uint8_t, 6>& m) {
  uint64_t k = 0;
  for (uint8_t b : m) k = (k << 8) | b;
  return k;
}
}  // namespace

const char* lease_state_name(LeaseState s) {
  switch (s) {
    case LeaseState::kOffered:
      return "offered";
    case LeaseState::kBound:
      return "bound";
    case LeaseState::kReleased:
      return "released";
    case LeaseState::kDeclined:
      return "declined";
  }
  return "?";
}

void Server::reconfigure(Settings s) {
  s_ = std::move(s);
  for (auto it = by_ip_.begin(); it != by_ip_.end();) {
    if (!in_pool(it->first)) {
      by_mac_.erase(mac_key(it->second.mac));
      it = by_ip_.erase(it);
    } else {
      ++it;
    }
  }
}

bool Server::in_pool(uint32_t ip) const {
  if (ip < s_.lower || ip > s_.upper || ip == s_.server_ip) return false;
  if ((ip & ~s_.netmask) == 0 || (ip & ~s_.netmask) == ~s_.netmask) return false;
  if (s_.router && ip == *s_.router) return false;
  if (std::find(s_.dns.begin(), s_.dns.end(), ip) != s_.dns.end()) return false;
  return std::find(s_.reserved.begin(), s_.reserved.end(), ip) == s_.reserved.end();
}

bool Server::free_for(uint32_t ip, const std::array<uint8_t, 6>& mac, uint64_t now) const {
  if (!in_pool(ip)) return false;
  auto it = by_ip_.find(ip);
  if (it == by_ip_.end()) return true;
  const Lease& l = it->second;
  if (l.state == LeaseState::kDeclined) return l.expires_s <= now;
  if (l.mac == mac) return true;
  return l.state == LeaseState::kReleased || l.expires_s <= now;
}

std::optional<uint32_t> Server::choose(const Request& req, uint64_t now) {
  auto last = by_mac_.find(mac_key(req.chaddr));
  if (last != by_mac_.end() && free_for(last->second, req.chaddr, now)) return last->second;
  if (req.requested_ip && free_for(*req.requested_ip, req.chaddr, now)) return req.requested_ip;
  std::optional<uint32_t> oldest;
  uint64_t oldest_exp = UINT64_MAX;
  for (uint64_t ip = s_.lower; ip <= s_.upper; ++ip) {
    const auto a = static_cast<uint32_t>(ip);
    if (!free_for(a, req.chaddr, now)) continue;
    auto it = by_ip_.find(a);
    if (it == by_ip_.end()) return a;  // never handed out
    if (it->second.expires_s < oldest_exp) oldest = a, oldest_exp = it->second.expires_s;
  }
  return oldest;
}

Reply Server::base(const Request& req, MsgType t) const {
  Reply r;
  r.type = t;
  r.xid = req.xid;
  r.flags = req.flags;
  r.giaddr = req.giaddr;
  r.chaddr = req.chaddr;
  r.server_id = s_.server_ip;
  if (t != MsgType::kNak) {
    r.subnet_mask = s_.netmask;
    r.router = s_.router;
    r.dns = s_.dns;
  }
  return r;
}

Reply Server::nak(const Request& req, const char* why) {
  ++naks_;
  Reply r = base(req, MsgType::kNak);
  r.message = why;
  return r;
}

void Server::bind(uint32_t ip, const Request& req, LeaseState st, uint64_t expires) {
  auto old = by_mac_.find(mac_key(req.chaddr));
  if (old != by_mac_.end() && old->second != ip) {
    auto it = by_ip_.find(old->second);
    if (it != by_ip_.end() && it->second.mac == req.chaddr &&
        it->second.state != LeaseState::kDeclined)
      it->second.state = LeaseState::kReleased;
  }
  Lease& l = by_ip_[ip];
  l.mac = req.chaddr;
  l.ip = ip;
  l.state = st;
  l.expires_s = expires;
  if (!req.hostname.empty()) l.hostname = req.hostname;
  by_mac_[mac_key(req.chaddr)] = ip;
}

std::optional<Reply> Server::handle(const Request& req, uint64_t now) {
  switch (req.type) {
    case MsgType::kDiscover: {
      auto ip = choose(req, now);
      if (!ip) {
        ++exhausted_;
        return std::nullopt;  // RFC 2131: a server with nothing to offer stays silent
      }
      bind(*ip, req, LeaseState::kOffered, now + kOfferHoldS);
      Reply r = base(req, MsgType::kOffer);
      r.yiaddr = *ip;
      r.lease_s = s_.lease_s;
      return r;
    }
    case MsgType::kRequest: {
      if (req.server_id && *req.server_id != s_.server_ip) {
        // SELECTING another server's offer: withdraw ours.
        auto it = by_mac_.find(mac_key(req.chaddr));
        if (it != by_mac_.end()) {
          auto l = by_ip_.find(it->second);
          if (l != by_ip_.end() && l->second.state == LeaseState::kOffered)
            l->second.state = LeaseState::kReleased;
        }
        return std::nullopt;
      }
      // SELECTING / INIT-REBOOT name the address in option 50; RENEWING / REBINDING
      // in ciaddr.
      const uint32_t want = req.requested_ip ? *req.requested_ip : req.ciaddr;
      if (want == 0) return nak(req, "no address requested");
      if ((want & s_.netmask) != (s_.server_ip & s_.netmask)) return nak(req, "wrong network");
      if (!free_for(want, req.chaddr, now)) return nak(req, "address not available");
      bind(want, req, LeaseState::kBound, now + s_.lease_s);
      Reply r = base(req, MsgType::kAck);
      r.ciaddr = req.ciaddr;
      r.yiaddr = want;
      r.lease_s = s_.lease_s;
      return r;
    }
    case MsgType::kRelease: {
      auto it = by_ip_.find(req.ciaddr);
      if (it != by_ip_.end() && it->second.mac == req.chaddr)
        it->second.state = LeaseState::kReleased;
      return std::nullopt;
    }
    case MsgType::kDecline: {
      if (req.requested_ip && in_pool(*req.requested_ip)) {
        Lease& l = by_ip_[*req.requested_ip];
        l.ip = *req.requested_ip;
        l.state = LeaseState::kDeclined;  // someone else uses it: keep it out a while
        l.expires_s = now + s_.lease_s;
        by_mac_.erase(mac_key(req.chaddr));
      }
      return std::nullopt;
    }
    case MsgType::kInform: {
      Reply r = base(req, MsgType::kAck);
      r.ciaddr = req.ciaddr;  // no yiaddr and no lease time (RFC 2131 3.4)
      return r;
    }
    default:
      return std::nullopt;  // server messages sent to us
  }
}

}  // namespace gp::dhcp
