// The control socket's wire format, version 1. Every message, request or reply, is one
// frame: a header line "GP/1 <length>\n" followed by exactly <length> bytes of JSON.
// A request is an object with "cmd" ("show", "apply") and its arguments; a reply is an
// object with "ok" (bool) and either the data or "error". Lengths are bounded, so a
// client can neither make the daemon buffer without end nor wait for bytes it never
// sends (the server gives up on it after a deadline). Pure code: unit-tested alone.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>

namespace gp {

inline constexpr int kControlProtocolVersion = 1;
inline constexpr size_t kMaxControlFrame = 8u << 20;  // a config file with room to spare
inline constexpr size_t kMaxControlHeader = 32;

// "GP/1 <len>\n<body>"
std::string encode_frame(const nlohmann::json& body);

// Feeds bytes in as they arrive; says when one frame is complete or why it never will be.
class FrameParser {
 public:
  enum class State { kNeedMore, kDone, kError };
  State feed(const char* data, size_t n);
  State state() const { return state_; }
  const nlohmann::json& body() const { return body_; }  // kDone: an object
  const std::string& error() const { return error_; }   // kError: for the peer

 private:
  State fail(std::string why);
  State state_ = State::kNeedMore;
  std::string header_;
  bool have_header_ = false;
  size_t length_ = 0;
  std::string buf_;
  nlohmann::json body_;
  std::string error_;
};

// A request's shape: "" when it is one the daemon understands, else the error.
std::string check_request(const nlohmann::json& req);

nlohmann::json error_reply(const std::string& message);

}  // namespace gp
