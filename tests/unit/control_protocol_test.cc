// The control socket's framing and request checks (control/control_protocol.h) with
// well-formed, malformed, truncated and oversized input; no socket, no EAL.
#include "control/control_protocol.h"

#include <gtest/gtest.h>

#include <string>

namespace gp {
namespace {

FrameParser parse(const std::string& bytes) {
  FrameParser p;
  p.feed(bytes.data(), bytes.size());
  return p;
}

TEST(ControlProtocol, RoundTripWholeAndByteByByte) {
  const nlohmann::json req = {{"cmd", "show"}, {"what", "ports"}, {"text", "ä\n\"x\""}};
  const std::string wire = encode_frame(req);
  EXPECT_EQ(wire.rfind("GP/1 ", 0), 0u);
  FrameParser whole = parse(wire);
  ASSERT_EQ(whole.state(), FrameParser::State::kDone) << whole.error();
  EXPECT_EQ(whole.body(), req);
  FrameParser bytewise;
  for (size_t i = 0; i < wire.size(); ++i) {
    EXPECT_EQ(bytewise.state(), FrameParser::State::kNeedMore) << i;
    bytewise.feed(&wire[i], 1);
  }
  ASSERT_EQ(bytewise.state(), FrameParser::State::kDone);
  EXPECT_EQ(bytewise.body(), req);
}

TEST(ControlProtocol, MalformedFramesGetAClearError) {
  struct Case {
    std::string bytes, error;
  } cases[] = {
      {"show ports\n", "no \"GP/1 <length>\" header"},
      {"GP/2 2\n{}", "unsupported protocol version GP/2"},
      {"GP/1 abc\n{}", "bad length 'abc'"},
      {"GP/1 -1\n{}", "bad length '-1'"},
      {"GP/1 0\n", "empty body"},
      {"GP/1 999999999\n", "request too large"},
      {"GP/1 99999999999999999999\n", "bad length"},
      {"GP/1 3\nabc", "not valid JSON"},
      {"GP/1 2\n[]", "must be a JSON object"},
      {"GP/1 2\n{}junk", "bytes after the frame"},
      {std::string(100, 'G'), "header"},
      {std::string("GP/1 2\n{\0", 9), "not valid JSON"},
  };
  for (const auto& c : cases) {
    FrameParser p = parse(c.bytes);
    EXPECT_EQ(p.state(), FrameParser::State::kError) << c.bytes;
    EXPECT_NE(p.error().find(c.error), std::string::npos) << c.bytes << " -> " << p.error();
    // Once failed, it stays failed whatever follows.
    p.feed("GP/1 2\n{}", 9);
    EXPECT_EQ(p.state(), FrameParser::State::kError);
  }
}

TEST(ControlProtocol, TruncatedFrameWaitsForMore) {
  FrameParser p = parse("GP/1 20\n{\"cmd\":");
  EXPECT_EQ(p.state(), FrameParser::State::kNeedMore);
  FrameParser h = parse("GP/1 2");
  EXPECT_EQ(h.state(), FrameParser::State::kNeedMore);
}

TEST(ControlProtocol, RequestShapes) {
  EXPECT_EQ(check_request({{"cmd", "show"}, {"what", "vms"}}), "");
  EXPECT_EQ(check_request({{"cmd", "show"}, {"what", "nat"}, {"filter", {{"vm", "a"}}}}), "");
  EXPECT_EQ(check_request({{"cmd", "apply"}, {"text", "vms: {}"}, {"dry_run", true}}), "");
  EXPECT_NE(check_request({{"what", "ports"}}).find("needs \"cmd\""), std::string::npos);
  EXPECT_NE(check_request({{"cmd", 7}}).find("needs \"cmd\""), std::string::npos);
  EXPECT_NE(check_request({{"cmd", "reboot"}}).find("unknown command 'reboot'"), std::string::npos);
  EXPECT_NE(check_request({{"cmd", "show"}, {"what", "secrets"}}).find("show needs"),
            std::string::npos);
  EXPECT_NE(check_request({{"cmd", "show"}, {"what", "nat"}, {"filter", "x"}}).find("filter"),
            std::string::npos);
  EXPECT_NE(check_request({{"cmd", "apply"}}).find("needs \"text\""), std::string::npos);
  EXPECT_NE(check_request({{"cmd", "apply"}, {"text", "x"}, {"dry_run", "yes"}}).find("dry_run"),
            std::string::npos);
  // "metrics" is the daemon's own (its exposer asks through the job queue), not a client's.
  EXPECT_NE(check_request({{"cmd", "metrics"}}).find("unknown command"), std::string::npos);
}

}  // namespace
}  // namespace gp
