// NIC model profiles. Source of the jumbo rules: VirtualBox User Manual, "Virtual
// Networking Hardware": "VirtualBox provides limited support for jumbo frames ...
// provided that you use the Intel card virtualization and bridged networking. In
// other words, jumbo frames are not supported with the AMD networking devices. In
// those cases, jumbo packets will silently be dropped for both the transmit and the
// receive direction." virtio-net carrying them everywhere is guestport's own rule
// (DESIGN.md, section 1): a paravirtual NIC has no hardware frame limit to emulate.
//
// The other figures, per model:
// - AMD PCnet (Am79C970A, Am79C973): IEEE 802.3 frames of at most 1518 bytes with FCS
//   (1514 without), 1522 with an 802.1Q tag (802.3ac); AMD's PCnet-FAST III datasheet
//   (Am79C973/Am79C975, publication 20510) lists no VLAN tag insertion, stripping or
//   checksum offload, and VirtualBox's DevPCNet.cpp emulates none.
// - Intel PRO/1000 (82540EM, 82543GC, 82545EM): VirtualBox's DevE1000.cpp defines
//   E1K_MAX_RX_PKT_SIZE 16384 and E1K_MAX_TX_PKT_SIZE 16288, emulates the VLAN
//   registers (CTRL.VME, VET: tag insertion and stripping), TCP/UDP checksum offload
//   and TCP segmentation (the TSE descriptor bit).
// - virtio-net: VirtualBox's DevVirtioNet.cpp: VNET_MAX_FRAME_SIZE 65535 + 18 ("Max IP
//   packet size + Ethernet header with VLAN tag"), VIRTIO_NET_F_CTRL_VLAN (VNET_MAX_VID
//   4096 filter), VIRTIO_NET_F_CSUM and the GSO features (VNET_WITH_GSO).
#include "nic_models/nic_models.h"

#include <array>

namespace gp {

namespace {
constexpr std::array<NicProfile, 6> kProfiles = {{
    {NicModel::kAm79C970A, "Am79C970A", "AMD PCnet-PCI II", false, false, 1518, false, false,
     false},
    {NicModel::kAm79C973, "Am79C973", "AMD PCnet-FAST III", false, false, 1518, false, false,
     false},
    {NicModel::k82540EM, "82540EM", "Intel PRO/1000 MT Desktop", true, false, 16384, true, true,
     true},
    {NicModel::k82543GC, "82543GC", "Intel PRO/1000 T Server", true, false, 16384, true, true,
     true},
    {NicModel::k82545EM, "82545EM", "Intel PRO/1000 MT Server", true, false, 16384, true, true,
     true},
    {NicModel::kVirtioNet, "virtio-net", "paravirtualized virtio-net", true, true, 65553, true,
     true, true},
}};
}  // namespace

const NicProfile& nic_profile(NicModel m) {
  for (const auto& p : kProfiles)
    if (p.model == m) return p;
  return kProfiles[1];
}

bool nic_carries_jumbo(NicModel m, bool bridged) {
  const NicProfile& p = nic_profile(m);
  return p.jumbo_elsewhere || (bridged && p.jumbo_bridged);
}

std::optional<NicModel> nic_model_from_name(std::string_view name) {
  for (const auto& p : kProfiles)
    if (p.name == name) return p.model;
  return std::nullopt;
}

std::vector<std::string_view> nic_model_names() {
  std::vector<std::string_view> v;
  for (const auto& p : kProfiles) v.push_back(p.name);
  return v;
}

}  // namespace gp
