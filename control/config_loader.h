// YAML -> Config: syntax, structure and type checks, each problem reported with
// file:line:column and what was expected. Cross-reference checks (unknown network,
// duplicate MAC, mode requirements) are in validate.h; load_config runs both.
#pragma once

#include <string>

#include "control/config.h"

namespace gp {

// Parses YAML text; `file` is used in diagnostics only.
LoadResult parse_config(const std::string& text, const std::string& file);
// Reads and parses a file, then validates it (validate.h).
LoadResult load_config(const std::string& path);
// The same for text already read (`guestportctl apply` sends the file's text).
LoadResult load_config_text(const std::string& text, const std::string& file);

}  // namespace gp
