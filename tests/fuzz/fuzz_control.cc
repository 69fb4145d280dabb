// libFuzzer target: the control socket's wire protocol as a hostile client speaks it.
// The bytes are fed to FrameParser in pieces whose sizes the input itself chooses (a
// client may split a frame anywhere); a complete frame's body goes through
// check_request as the daemon's dispatcher does. Nothing may crash, hang or leak, and
// a frame is never both refused and accepted.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "control/control_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = 1 + data[0] % 64;  // how the bytes arrive
  ++data, --size;
  gp::FrameParser parser;
  size_t off = 0;
  while (off < size) {
    const size_t n = size - off < piece ? size - off : piece;
    const auto st = parser.feed(reinterpret_cast<const char*>(data + off), n);
    off += n;
    if (st == gp::FrameParser::State::kError) {
      if (parser.error().empty()) std::abort();  // refused without a reason for the peer
      (void)gp::encode_frame(gp::error_reply(parser.error()));
      return 0;
    }
    if (st == gp::FrameParser::State::kDone) {
      if (!parser.body().is_object()) std::abort();
      (void)gp::check_request(parser.body());
      (void)gp::encode_frame(parser.body());
      return 0;
    }
  }
  return 0;
}
