// `modelgate catalogue ...`: list, import, export, set-price, enable and disable, against the SQLite file
// a gateway serves from. A running gateway picks the changes up within its catalogue poll interval.
#pragma once

#include <string>
#include <vector>

namespace mg::tools {

int run_catalogue_command(const std::vector<std::string>& args);

}  // namespace mg::tools
