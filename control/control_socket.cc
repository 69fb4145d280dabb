// Control path: see control_socket.h.
#include "control/control_socket.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "control/control_protocol.h"

namespace gp {

namespace {
using Clock = std::chrono::steady_clock;

bool make_addr(const std::string& path, sockaddr_un& a) {
  if (path.size() >= sizeof(a.sun_path)) return false;
  std::memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return true;
}

int ms_left(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

// Writes all of s before the deadline; false if the peer does not take it in time.
bool write_all(int fd, const std::string& s, Clock::time_point deadline) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
    pollfd p{fd, POLLOUT, 0};
    const int left = ms_left(deadline);
    if (left == 0 || ::poll(&p, 1, left) <= 0) return false;
  }
  return true;
}

// Reads one frame before the deadline.
FrameParser read_frame(int fd, Clock::time_point deadline, bool* timed_out) {
  FrameParser fp;
  char buf[65536];
  *timed_out = false;
  while (fp.state() == FrameParser::State::kNeedMore) {
    pollfd p{fd, POLLIN, 0};
    const int left = ms_left(deadline);
    if (left == 0 || ::poll(&p, 1, left) <= 0) {
      *timed_out = true;
      return fp;
    }
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) return fp;  // closed before a whole frame: nobody to answer
    fp.feed(buf, static_cast<size_t>(n));
  }
  return fp;
}
}  // namespace

std::optional<nlohmann::json> JobQueue::call(nlohmann::json request, std::string peer,
                                             std::chrono::milliseconds timeout) {
  auto job = std::make_shared<Job>();
  job->request = std::move(request);
  job->peer = std::move(peer);
  std::unique_lock lock(m_);
  if (closed_) return std::nullopt;
  jobs_.push_back(job);
  queued_.notify_one();
  if (!answered_.wait_for(lock, timeout, [&] { return job->done || closed_; }) || !job->done)
    return std::nullopt;  // the job stays queued or running; its reply is dropped then
  return std::move(job->reply);
}

void JobQueue::serve(std::chrono::milliseconds wait, const Handler& handler) {
  std::unique_lock lock(m_);
  if (jobs_.empty()) queued_.wait_for(lock, wait, [&] { return !jobs_.empty() || closed_; });
  while (!jobs_.empty()) {
    std::shared_ptr<Job> job = jobs_.front();
    jobs_.pop_front();
    lock.unlock();
    nlohmann::json reply;
    try {
      reply = handler(job->request, job->peer);
    } catch (const std::exception& e) {
      reply = error_reply(std::string("internal error: ") + e.what());
    }
    lock.lock();
    job->reply = std::move(reply);
    job->done = true;
    answered_.notify_all();
  }
}

void JobQueue::close() {
  std::lock_guard lock(m_);
  closed_ = true;
  queued_.notify_all();
  answered_.notify_all();
}

ControlServer::~ControlServer() { close(); }

std::string ControlServer::open(const std::string& path, JobQueue* jobs) {
  sockaddr_un a{};
  if (!make_addr(path, a)) return "control socket path too long: " + path;
  auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    std::string dir = path.substr(0, slash);
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
      return "cannot create " + dir + ": " + std::strerror(errno);
  }
  // A socket file left by a daemon that died: remove it only if nobody answers.
  int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe >= 0) {
    bool alive = connect(probe, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    ::close(probe);
    if (alive) return "another guestportd is serving " + path;
  }
  unlink(path.c_str());
  fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) return std::string("socket: ") + std::strerror(errno);
  mode_t old = umask(0077);
  int rc = bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
  umask(old);
  if (rc != 0 || listen(fd_, 16) != 0 || pipe2(wake_, O_CLOEXEC) != 0) {
    std::string e = "cannot listen on " + path + ": " + std::strerror(errno);
    ::close(fd_);
    fd_ = -1;
    return e;
  }
  chmod(path.c_str(), 0600);
  path_ = path;
  jobs_ = jobs;
  thread_ = std::thread([this] { run(); });
  return "";
}

namespace {
// A client whose request is still arriving.
struct Pending {
  int fd;
  std::string peer;
  Clock::time_point deadline;
  FrameParser parser;
};

std::string peer_of(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return "unknown";
  return "uid=" + std::to_string(cred.uid) + " pid=" + std::to_string(cred.pid);
}
}  // namespace

// Clients are read side by side (poll over all of them): one that sends slowly or not at
// all holds up nobody and is dropped at its deadline. Complete requests are answered one
// at a time, in the order they complete.
void ControlServer::run() {
  constexpr size_t kMaxClients = 64;
  std::vector<Pending> clients;
  auto drop = [&](size_t i) {
    ::close(clients[i].fd);
    clients.erase(clients.begin() + static_cast<std::ptrdiff_t>(i));
  };
  for (;;) {
    std::vector<pollfd> p = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    int timeout = -1;
    for (const Pending& c : clients) {
      p.push_back({c.fd, POLLIN, 0});
      const int left = ms_left(c.deadline);
      timeout = timeout < 0 ? left : std::min(timeout, left);
    }
    if (::poll(p.data(), p.size(), timeout) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[1].revents != 0) break;  // close()
    // Read what arrived; answer what is complete; drop what is late or gone.
    for (size_t i = clients.size(); i-- > 0;) {
      Pending& c = clients[i];
      const short ev = p[2 + i].revents;
      if (ev != 0) {
        char buf[65536];
        const ssize_t n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
          drop(i);  // went away before a whole request: nobody to answer
          continue;
        }
        if (n > 0) c.parser.feed(buf, static_cast<size_t>(n));
      }
      nlohmann::json reply;
      if (c.parser.state() == FrameParser::State::kError) {
        reply = error_reply(c.parser.error());
      } else if (c.parser.state() == FrameParser::State::kDone) {
        if (std::string bad = check_request(c.parser.body()); !bad.empty()) {
          reply = error_reply(bad);
        } else {
          auto r = jobs_->call(c.parser.body(), c.peer, std::chrono::milliseconds(kJobDeadlineMs));
          reply = r ? *r : error_reply("the daemon did not answer in time (stopping?)");
        }
      } else if (ms_left(c.deadline) == 0) {
        reply =
            error_reply("request incomplete after " + std::to_string(kClientDeadlineMs) + " ms");
      } else {
        continue;  // more to come
      }
      write_all(c.fd, encode_frame(reply),
                Clock::now() + std::chrono::milliseconds(kClientDeadlineMs));
      drop(i);
    }
    if (p[0].revents & POLLIN) {
      const int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (c >= 0 && clients.size() >= kMaxClients) {
        write_all(c, encode_frame(error_reply("too many clients at once")),
                  Clock::now() + std::chrono::milliseconds(100));
        ::close(c);
      } else if (c >= 0) {
        clients.push_back(
            {c, peer_of(c), Clock::now() + std::chrono::milliseconds(kClientDeadlineMs), {}});
      }
    }
  }
  for (const Pending& c : clients) ::close(c.fd);
}

void ControlServer::close() {
  if (thread_.joinable()) {
    const char x = 1;
    if (::write(wake_[1], &x, 1) < 0) {
    }
    thread_.join();
  }
  for (int& f : wake_)
    if (f >= 0) ::close(f), f = -1;
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
    unlink(path_.c_str());
  }
}

nlohmann::json control_call(const std::string& path, const nlohmann::json& request,
                            int timeout_ms) {
  sockaddr_un a{};
  if (!make_addr(path, a)) throw ControlUnreachable("control socket path too long: " + path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw ControlUnreachable(std::string("socket: ") + std::strerror(errno));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::string e = "cannot reach guestportd at " + path + ": " + std::strerror(errno);
    ::close(fd);
    throw ControlUnreachable(e);
  }
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  if (!write_all(fd, encode_frame(request), deadline)) {
    ::close(fd);
    throw ControlUnreachable("guestportd at " + path + " does not take the request");
  }
  bool timed_out = false;
  FrameParser fp = read_frame(fd, deadline, &timed_out);
  ::close(fd);
  if (fp.state() == FrameParser::State::kError)
    throw std::runtime_error("broken reply from guestportd: " + fp.error());
  if (fp.state() != FrameParser::State::kDone)
    throw ControlUnreachable(timed_out ? "guestportd did not answer in time"
                                       : "guestportd closed the connection without a reply");
  return fp.body();
}

}  // namespace gp
