// NIC model profiles. Source of the jumbo rules: VirtualBox User Manual, "Virtual
// Networking Hardware": "VirtualBox provides limited support for jumbo frames ...
// provided that you use the Intel card virtualization and bridged networking. In
// other words, jumbo frames are not supported with the AMD networking devices. In
// those cases, jumbo packets will silently be dropped for both the transmit and the
// receive direction." virtio-net carrying them everywhere is guestport's own rule
// (DESIGN.md, section 1): a paravirtual NIC has no hardware frame limit to emulate.
#include "nic_models/nic_models.h"

#include <array>

namespace gp {

namespace {
constexpr std::array<NicProfile, 6> kProfiles = {{
    {NicModel::kAm79C970A, "Am79C970A", "AMD PCnet-PCI II", false, false},
    {NicModel::kAm79C973, "Am79C973", "AMD PCnet-FAST III", false, false},
    {NicModel::k82540EM, "82540EM", "Intel PRO/1000 MT Desktop", true, false},
    {NicModel::k82543GC, "82543GC", "Intel PRO/1000 T Server", true, false},
    {NicModel::k82545EM, "82545EM", "Intel PRO/1000 MT Server", true, false},
    {NicModel::kVirtioNet, "virtio-net", "paravirtualized virtio-net", true, true},
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
