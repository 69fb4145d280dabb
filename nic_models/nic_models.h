// The emulated NIC models a guest adapter can claim, VirtualBox's names. A model
// decides which frames the guest NIC can carry (jumbo frames); the full rules and the
// per-model profiles grow with the NIC-models issue. Pure data, no DPDK.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gp {

enum class NicModel { kAm79C970A, kAm79C973, k82540EM, k82543GC, k82545EM, kVirtioNet };

// What the emulated NIC can do, with its source in nic_models.cc.
struct NicProfile {
  NicModel model;
  std::string_view name;  // VirtualBox's name, as written in the config
  std::string_view description;
  bool jumbo_bridged;    // may carry jumbo frames on bridged attachments
  bool jumbo_elsewhere;  // ... on every other attachment
  // The largest frame the emulated device takes or hands over, Ethernet header and
  // any 802.1Q tag included, without FCS. The switch's own limit (MTU 9000) is lower
  // for the Intel and virtio models.
  uint32_t max_frame;
  // Hardware 802.1Q: the device can insert and strip tags itself (Intel's VME/VET,
  // virtio's VIRTIO_NET_F_CTRL_VLAN filtering); without it a guest's driver writes
  // tags into the frame. Either way a tagged frame reaches the switch with its tag.
  bool vlan_offload;
  bool checksum_offload;  // TCP/UDP checksum offload offered to the guest
  bool tso;               // TCP segmentation offload offered to the guest
};

inline constexpr NicModel kDefaultNicModel = NicModel::kAm79C973;
// The largest IP packet of a standard Ethernet frame: what a NIC without jumbo
// support carries (IEEE 802.3: 1518-byte frames with FCS, 1514 as DPDK sees them).
inline constexpr uint16_t kStandardMtu = 1500;

// Does this model carry jumbo frames (MTU above 1500) on this kind of attachment?
bool nic_carries_jumbo(NicModel m, bool bridged);

const NicProfile& nic_profile(NicModel m);
std::optional<NicModel> nic_model_from_name(std::string_view name);
std::vector<std::string_view> nic_model_names();

}  // namespace gp
