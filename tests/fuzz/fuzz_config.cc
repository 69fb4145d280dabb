// libFuzzer target: arbitrary bytes as a config file, through everything `guestportctl
// check` and an apply run before any port is touched: YAML parsing, the loader (every
// key's checks, file:line:column diagnostics), validation, the diff against a running
// config, the port plan and the snapshot compiler. Nothing may crash, hang or leak;
// a refused config must come with at least one diagnostic.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include "control/compile.h"
#include "control/config_loader.h"
#include "control/diff.h"
#include "control/validate.h"

namespace {
const gp::Config& running() {
  static const gp::Config c = [] {
    gp::LoadResult r = gp::parse_config(
        "networks: {hn: {mode: hostonly, host_interface: {name: fz0, address: 192.168.7.1/24}}}\n"
        "vms: {a: {adapters: {1: {attach: hostonly:hn, port: net_null0}}}}\n",
        "running.yaml");
    if (!r.errors.empty() || !r.config) std::abort();
    gp::validate_config(*r.config, r.errors);
    return *r.config;
  }();
  return c;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  gp::LoadResult r = gp::parse_config(text, "fuzz.yaml");
  if (!r.errors.empty()) {
    for (const auto& e : r.errors) (void)e.to_string();
    return 0;
  }
  if (!r.config) std::abort();  // accepted without a config, or refused without a reason
  gp::validate_config(*r.config, r.errors);
  if (!r.errors.empty()) return 0;
  std::vector<gp::Diagnostic> warnings;
  gp::nic_model_warnings(*r.config, warnings);
  (void)gp::diff_configs(&running(), *r.config);
  (void)gp::restart_only_changes(running(), *r.config);
  std::vector<gp::Diagnostic> errors;
  const auto plans = gp::plan_ports(*r.config, errors);
  std::map<std::string, uint16_t> ids;
  uint16_t next = 0;
  for (const auto& p : plans)
    if (next < gp::kMaxPorts) ids[p.key] = next++;
  (void)gp::compile_snapshot(plans, ids, 1, gp::plan_segments(*r.config),
                             gp::plan_globals(*r.config));
  return 0;
}
