// Unit-test helper: a config from YAML text, parsed and validated as the daemon would
// ("t.yaml" in diagnostics); the test fails if it is refused.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "control/config_loader.h"
#include "control/validate.h"

namespace gp::test {

inline Config cfg(const std::string& yaml) {
  LoadResult r = parse_config(yaml, "t.yaml");
  if (r.errors.empty()) validate_config(*r.config, r.errors);
  EXPECT_TRUE(r.errors.empty()) << (r.errors.empty() ? "" : r.errors[0].to_string());
  return *r.config;
}

}  // namespace gp::test
