// Control path: see netdev.h. Plain ioctls, no external tools.
#include "control/netdev.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace gp {

std::string set_interface_ipv4(const std::string& iface, const Ipv4Cidr& addr) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::string("socket: ") + std::strerror(errno);
  auto fail = [&](const char* what) {
    std::string e = iface + ": " + what + ": " + std::strerror(errno);
    close(fd);
    return e;
  };
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, iface.c_str(), IFNAMSIZ - 1);
  auto* sin = reinterpret_cast<sockaddr_in*>(&ifr.ifr_addr);
  sin->sin_family = AF_INET;
  sin->sin_addr.s_addr = htonl(addr.addr);
  if (ioctl(fd, SIOCSIFADDR, &ifr) < 0) return fail("cannot set address");
  sin->sin_addr.s_addr = htonl(addr.mask());
  if (ioctl(fd, SIOCSIFNETMASK, &ifr) < 0) return fail("cannot set netmask");
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) return fail("cannot read flags");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) return fail("cannot bring up");
  close(fd);
  return "";
}

}  // namespace gp
