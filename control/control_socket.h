// The operator's control socket: a Unix stream socket, root-only (0600 in a 0700
// directory), speaking control_protocol.h (one framed JSON request per connection, one
// framed reply). It is served on a thread of its own that reads every client side by
// side: a slow or silent client holds up neither other clients nor the control thread
// that learns MACs and runs the slow path, and is dropped at its deadline.
// Requests reach the control thread through a JobQueue, as do those of the metrics
// endpoint and DPDK telemetry, and only the control thread touches appliance state.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>

namespace gp {

// Requests from server threads (control socket, metrics, telemetry) to the control
// thread. Threads: call() from any thread but the control thread; serve() on it.
class JobQueue {
 public:
  using Handler =
      std::function<nlohmann::json(const nlohmann::json& request, const std::string& peer)>;
  // Queues a request and waits up to `timeout` for its reply; nullopt on timeout or
  // when the queue is closed (the daemon is stopping).
  std::optional<nlohmann::json> call(nlohmann::json request, std::string peer,
                                     std::chrono::milliseconds timeout);
  // Runs every queued request; when none is queued, waits up to `wait` for one.
  void serve(std::chrono::milliseconds wait, const Handler& handler);
  void close();

 private:
  struct Job {
    nlohmann::json request;
    std::string peer;
    bool done = false;
    nlohmann::json reply;
  };
  std::mutex m_;
  std::condition_variable queued_, answered_;
  std::deque<std::shared_ptr<Job>> jobs_;
  bool closed_ = false;
};

class ControlServer {
 public:
  ControlServer() = default;
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Listens on `path` and serves it on a thread of its own until close(). Returns ""
  // or an error message.
  std::string open(const std::string& path, JobQueue* jobs);
  void close();

  // How long a client may take to send its request / to take the reply.
  static constexpr int kClientDeadlineMs = 2000;
  // How long a request may wait for the control thread (an apply opens ports).
  static constexpr int kJobDeadlineMs = 60000;

 private:
  void run();

  int fd_ = -1;
  int wake_[2] = {-1, -1};
  std::string path_;
  JobQueue* jobs_ = nullptr;
  std::thread thread_;
};

// The daemon does not answer on `path` (guestportctl exits 2).
struct ControlUnreachable : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Client side (guestportctl): sends one request, returns the reply. Throws
// ControlUnreachable when nobody listens, std::runtime_error for a broken reply.
nlohmann::json control_call(const std::string& path, const nlohmann::json& request,
                            int timeout_ms = 120000);

}  // namespace gp
