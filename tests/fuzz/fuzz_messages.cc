// libFuzzer target: the slow path's message parsers on arbitrary bytes, the way a
// guest's UDP payload reaches them: a DHCP request (RFC 2131/2132 options) and a DNS
// query (RFC 1035 names with compression pointers). Whatever they accept is built back
// into a reply, as the DHCP server and the DNS proxy do; nothing may read out of
// bounds, loop or leak.
#include <cstddef>
#include <cstdint>

#include "dataplane/services/dhcp_message.h"
#include "dataplane/services/dns_message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (auto r = gp::dhcp::parse_request(data, size)) {
    gp::dhcp::Reply reply{};
    reply.xid = r->xid;
    reply.chaddr = r->chaddr;
    reply.type = gp::dhcp::MsgType::kNak;
    (void)gp::dhcp::build_reply(reply);
    (void)gp::dhcp::build_request(*r);
  }
  if (gp::dns::looks_like_query(data, size)) {
    if (auto q = gp::dns::parse_query(data, size))
      (void)gp::dns::build_error(*q, gp::dns::Rcode::kServFail);
  }
  return 0;
}
