// The operator's control socket: a Unix stream socket, root-only (0600 in a 0700
// directory). One request line per connection ("show ports"), one JSON reply, close.
// Served from the control thread's loop by poll(); never touches worker state.
#pragma once

#include <functional>
#include <string>

namespace gp {

class ControlServer {
 public:
  using Handler = std::function<std::string(const std::string& request)>;

  ControlServer() = default;
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Returns "" or an error message.
  std::string open(const std::string& path);
  // Waits up to timeout_ms for a client and answers it.
  void poll_once(int timeout_ms, const Handler& handler);
  void close();

 private:
  int fd_ = -1;
  std::string path_;
};

// Client side (guestportctl): sends one request, returns the reply or throws.
std::string control_request(const std::string& path, const std::string& request);

}  // namespace gp
