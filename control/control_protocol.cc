// Control path: see control_protocol.h.
#include "control/control_protocol.h"

#include <set>

namespace gp {

std::string encode_frame(const nlohmann::json& body) {
  const std::string text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return "GP/" + std::to_string(kControlProtocolVersion) + " " + std::to_string(text.size()) +
         "\n" + text;
}

FrameParser::State FrameParser::fail(std::string why) {
  error_ = std::move(why);
  return state_ = State::kError;
}

FrameParser::State FrameParser::feed(const char* data, size_t n) {
  if (state_ != State::kNeedMore) return state_;
  size_t i = 0;
  while (!have_header_ && i < n) {
    const char c = data[i++];
    if (c == '\n') {
      have_header_ = true;
      break;
    }
    header_.push_back(c);
    if (header_.size() > kMaxControlHeader)
      return fail("malformed request: no \"GP/1 <length>\" header line");
  }
  if (!have_header_) return state_;
  if (length_ == 0) {
    const std::string prefix = "GP/";
    const auto space = header_.find(' ');
    if (header_.compare(0, prefix.size(), prefix) != 0 || space == std::string::npos)
      return fail("malformed request: no \"GP/1 <length>\" header line");
    const std::string version = header_.substr(prefix.size(), space - prefix.size());
    if (version != std::to_string(kControlProtocolVersion))
      return fail("unsupported protocol version GP/" + version + " (this daemon speaks GP/1)");
    const std::string len = header_.substr(space + 1);
    if (len.empty() || len.size() > 10 || len.find_first_not_of("0123456789") != std::string::npos)
      return fail("malformed request: bad length '" + len + "'");
    const unsigned long long l = std::stoull(len);
    if (l == 0) return fail("malformed request: empty body");
    if (l > kMaxControlFrame)
      return fail("request too large: " + len + " bytes (at most " +
                  std::to_string(kMaxControlFrame) + ")");
    length_ = static_cast<size_t>(l);
    buf_.reserve(length_);
  }
  const size_t take = std::min(n - i, length_ - buf_.size());
  buf_.append(data + i, take);
  if (i + take < n) return fail("malformed request: bytes after the frame");
  if (buf_.size() < length_) return state_;
  body_ = nlohmann::json::parse(buf_, nullptr, /*allow_exceptions=*/false);
  if (body_.is_discarded()) return fail("malformed request: the body is not valid JSON");
  if (!body_.is_object()) return fail("malformed request: the body must be a JSON object");
  return state_ = State::kDone;
}

std::string check_request(const nlohmann::json& req) {
  static const std::set<std::string> kShow = {"ports", "networks", "vms",  "acl",
                                              "fdb",   "nat",      "dhcp", "stats"};
  if (!req.is_object()) return "a request must be a JSON object";
  if (!req.contains("cmd") || !req["cmd"].is_string()) return "a request needs \"cmd\" (a string)";
  const std::string cmd = req["cmd"].get<std::string>();
  if (cmd == "show") {
    if (!req.contains("what") || !req["what"].is_string() ||
        !kShow.count(req["what"].get<std::string>()))
      return "show needs \"what\": ports, networks, vms, acl, fdb, nat, dhcp or stats";
    if (req.contains("filter") && !req["filter"].is_object())
      return "show: \"filter\" must be an object";
    return "";
  }
  if (cmd == "apply") {
    if (!req.contains("text") || !req["text"].is_string())
      return "apply needs \"text\": the configuration file's contents";
    if (req.contains("file") && !req["file"].is_string()) return "apply: \"file\" must be a string";
    if (req.contains("dry_run") && !req["dry_run"].is_boolean())
      return "apply: \"dry_run\" must be true or false";
    return "";
  }
  return "unknown command '" + cmd + "' (show, apply)";
}

nlohmann::json error_reply(const std::string& message) {
  return {{"ok", false}, {"error", message}};
}

}  // namespace gp
