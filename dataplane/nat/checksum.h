// Incremental Internet checksum updates (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')).
// Values are 16-bit words exactly as they lie in the packet; one's complement sums do
// not depend on byte order (RFC 1071), so no conversion is needed. Fast path, inline.
#pragma once

#include <rte_byteorder.h>

#include <cstdint>

namespace gp::nat {

inline uint16_t csum_fold(uint32_t s) noexcept {
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

// The checksum after one 16-bit word of the covered data changed from old_w to new_w.
inline uint16_t csum_update16(uint16_t csum, uint16_t old_w, uint16_t new_w) noexcept {
  const uint32_t s =
      uint32_t{static_cast<uint16_t>(~csum)} + uint32_t{static_cast<uint16_t>(~old_w)} + new_w;
  return static_cast<uint16_t>(~csum_fold(s));
}

// The same for a 32-bit field (an IPv4 address), as two words.
inline uint16_t csum_update32(uint16_t csum, uint32_t old_v, uint32_t new_v) noexcept {
  csum = csum_update16(csum, static_cast<uint16_t>(old_v), static_cast<uint16_t>(new_v));
  return csum_update16(csum, static_cast<uint16_t>(old_v >> 16),
                       static_cast<uint16_t>(new_v >> 16));
}

}  // namespace gp::nat
