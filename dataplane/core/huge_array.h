// A fixed array of a worker's large per-flow state (NAT sessions, mappings) in its own
// anonymous mapping, aligned to 2 MB and offered to the kernel for transparent huge
// pages (MADV_HUGEPAGE): a million flows touched at random miss the TLB far less on 2 MB
// pages than on 4 KiB ones, with or without hugetlbfs (with --no-huge too). Allocated
// once, when the table is made; never on the fast path.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace gp {

template <typename T>
class HugeArray {
 public:
  static constexpr size_t kHuge = size_t{2} << 20;

  HugeArray() = default;
  explicit HugeArray(size_t n) : n_(n) {
    const size_t want = (n * sizeof(T) + kHuge - 1) / kHuge * kHuge;
    used_bytes_ = want;
    map_bytes_ = want + kHuge;  // room to start on a 2 MB boundary
    void* m = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) throw std::bad_alloc();
    map_ = m;
    const auto at = (reinterpret_cast<uintptr_t>(m) + kHuge - 1) & ~(kHuge - 1);
    p_ = reinterpret_cast<T*>(at);
    if (want != 0) madvise(p_, want, MADV_HUGEPAGE);  // a hint: 4 KiB pages still work
    for (size_t i = 0; i < n; ++i) new (&p_[i]) T();
  }
  ~HugeArray() {
    if (map_ == nullptr) return;
    if constexpr (!std::is_trivially_destructible_v<T>)
      for (size_t i = 0; i < n_; ++i) p_[i].~T();
    munmap(map_, map_bytes_);
  }
  HugeArray(const HugeArray&) = delete;
  HugeArray& operator=(const HugeArray&) = delete;
  HugeArray(HugeArray&& o) noexcept { *this = std::move(o); }
  HugeArray& operator=(HugeArray&& o) noexcept {
    if (this != &o) {
      this->~HugeArray();
      p_ = o.p_, n_ = o.n_, map_ = o.map_, map_bytes_ = o.map_bytes_;
      used_bytes_ = o.used_bytes_;
      o.p_ = nullptr, o.n_ = 0, o.map_ = nullptr, o.map_bytes_ = o.used_bytes_ = 0;
    }
    return *this;
  }

  T& operator[](size_t i) noexcept { return p_[i]; }
  const T& operator[](size_t i) const noexcept { return p_[i]; }
  size_t size() const noexcept { return n_; }
  // The memory it takes (whole 2 MB pages; the alignment slack is never touched).
  size_t bytes() const noexcept { return used_bytes_; }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
  void* map_ = nullptr;
  size_t map_bytes_ = 0, used_bytes_ = 0;
};

}  // namespace gp
