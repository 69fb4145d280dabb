// DNS messages for the proxy: header check, query parsing (never trusting lengths),
// error answers that echo the question (no EAL).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "dataplane/services/dns_message.h"

namespace gp::dns {
namespace {

// A standard query: id 0x1234, RD, one question for `labels` (wire form), type A, class IN.
std::vector<uint8_t> query(const std::vector<uint8_t>& name_wire, uint8_t flags2 = 0x01) {
  const uint8_t header[12] = {0x12, 0x34, flags2, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
  std::vector<uint8_t> b(sizeof header + name_wire.size() + 4);
  std::memcpy(b.data(), header, sizeof header);
  std::memcpy(b.data() + sizeof header, name_wire.data(), name_wire.size());
  const size_t t = sizeof header + name_wire.size();
  b[t + 1] = 1;  // type A
  b[t + 3] = 1;  // class IN
  return b;
}
const std::vector<uint8_t> kExample = {7,   'e', 'x', 'a', 'm', 'p', 'l',
                                       'e', 4,   't', 'e', 's', 't', 0};

TEST(DnsMessage, ParsesAStandardQuery) {
  auto b = query(kExample);
  ASSERT_TRUE(looks_like_query(b.data(), b.size()));
  auto q = parse_query(b.data(), b.size());
  ASSERT_TRUE(q);
  EXPECT_EQ(q->id, 0x1234);
  EXPECT_TRUE(q->recursion_desired);
  EXPECT_EQ(q->name, "example.test");
  EXPECT_EQ(q->qtype, 1);
  EXPECT_EQ(q->qclass, 1);
  EXPECT_EQ(q->question.size(), kExample.size() + 4);
  auto root = query({0});
  EXPECT_EQ(parse_query(root.data(), root.size())->name, ".");
}

TEST(DnsMessage, ServfailEchoesIdFlagsAndQuestion) {
  auto b = query(kExample);
  auto q = parse_query(b.data(), b.size());
  ASSERT_TRUE(q);
  auto r = build_error(*q, Rcode::kServFail);
  ASSERT_EQ(r.size(), b.size());
  EXPECT_EQ(r[0], 0x12);
  EXPECT_EQ(r[1], 0x34);
  EXPECT_EQ(r[2], 0x81);  // QR, RD
  EXPECT_EQ(r[3], 0x82);  // RA, SERVFAIL
  EXPECT_EQ(r[5], 1);     // QDCOUNT
  EXPECT_EQ(std::vector<uint8_t>(r.begin() + 12, r.end()),
            std::vector<uint8_t>(b.begin() + 12, b.end()));
  EXPECT_FALSE(looks_like_query(r.data(), r.size())) << "an answer is not a query";
  EXPECT_FALSE(parse_query(r.data(), r.size()));
}

TEST(DnsMessage, MalformedQueriesAreRefused) {
  auto ok = query(kExample);
  for (size_t cut = 0; cut < ok.size(); ++cut)  // every truncation
    EXPECT_FALSE(parse_query(ok.data(), cut)) << cut;
  auto response = query(kExample, 0x81);  // QR set
  EXPECT_FALSE(parse_query(response.data(), response.size()));
  auto notify = query(kExample, 0x20);  // opcode 4 (NOTIFY)
  EXPECT_FALSE(parse_query(notify.data(), notify.size()));
  auto none = query(kExample);
  none[5] = 0;  // QDCOUNT 0
  EXPECT_FALSE(parse_query(none.data(), none.size()));
  auto pointer = query({0xc0, 0x0c});  // a compression pointer in the question
  EXPECT_FALSE(parse_query(pointer.data(), pointer.size()));
  std::vector<uint8_t> long_label = {64};
  long_label.insert(long_label.end(), 64, 'a');
  long_label.push_back(0);
  auto ll = query(long_label);
  EXPECT_FALSE(parse_query(ll.data(), ll.size()));
  std::vector<uint8_t> long_name;  // 5 x 63-byte labels: 320 bytes > 255
  for (int i = 0; i < 5; ++i) {
    long_name.push_back(63);
    long_name.insert(long_name.end(), 63, 'b');
  }
  long_name.push_back(0);
  auto ln = query(long_name);
  EXPECT_FALSE(parse_query(ln.data(), ln.size()));
  EXPECT_FALSE(looks_like_query(ok.data(), 11));
}

}  // namespace
}  // namespace gp::dns
