// Control path: see control_socket.h.
#include "control/control_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace gp {

namespace {
bool make_addr(const std::string& path, sockaddr_un& a) {
  if (path.size() >= sizeof(a.sun_path)) return false;
  std::memset(&a, 0, sizeof a);
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return true;
}

void write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}
}  // namespace

ControlServer::~ControlServer() { close(); }

std::string ControlServer::open(const std::string& path) {
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
  if (rc != 0 || listen(fd_, 16) != 0) {
    std::string e = "cannot listen on " + path + ": " + std::strerror(errno);
    ::close(fd_);
    fd_ = -1;
    return e;
  }
  chmod(path.c_str(), 0600);
  path_ = path;
  return "";
}

void ControlServer::poll_once(int timeout_ms, const Handler& handler) {
  if (fd_ < 0) return;
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return;
  int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (c < 0) return;
  timeval tv{1, 0};  // a silent client cannot hold the control thread for long
  setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::string req;
  char buf[512];
  while (req.find('\n') == std::string::npos && req.size() < 4096) {
    ssize_t n = recv(c, buf, sizeof buf, 0);
    if (n <= 0) break;
    req.append(buf, static_cast<size_t>(n));
  }
  req = req.substr(0, req.find('\n'));
  write_all(c, handler(req) + "\n");
  ::close(c);
}

void ControlServer::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
    unlink(path_.c_str());
  }
}

std::string control_request(const std::string& path, const std::string& request) {
  sockaddr_un a{};
  if (!make_addr(path, a)) throw std::runtime_error("control socket path too long");
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::string e = "cannot reach guestportd at " + path + ": " + std::strerror(errno);
    ::close(fd);
    throw std::runtime_error(e);
  }
  write_all(fd, request + "\n");
  std::string reply;
  char buf[4096];
  ssize_t n;
  while ((n = recv(fd, buf, sizeof buf, 0)) > 0) reply.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return reply;
}

}  // namespace gp
