// The rules every client API's parser shares: how deep a body may nest, what a function name may be,
// and what a tool_choice needs. Violations of the last two are thrown as SchemaViolation.
#include <algorithm>
#include <cctype>
#include <optional>

#include "core/json_object_reader.h"
#include "core/json_scan.h"
#include "formats/openai_wire.h"

namespace mg {

// Rejects documents nested deeper than the limit before the DOM is built, so hostile input costs O(n).
Status check_nesting_depth(std::string_view text, std::size_t max_depth) {
  // Each level takes an opening bracket: a text with few, a stream chunk say, needs no scan.
  auto opening = [](char c) { return c == '{' || c == '['; };
  if (static_cast<std::size_t>(std::count_if(text.begin(), text.end(), opening)) <= max_depth) return Ok{};
  std::size_t depth = 0;
  std::optional<std::size_t> too_deep_at;
  scan_json_structure(
      text,
      [&](char c, std::size_t offset) {
        if (c == '{' || c == '[') {
          if (++depth > max_depth) too_deep_at = offset;
        } else if ((c == '}' || c == ']') && depth > 0) {
          --depth;
        }
        return !too_deep_at;
      },
      [](std::string_view) {});
  if (!too_deep_at) return Ok{};
  return Error::invalid_request("JSON nests deeper than " + std::to_string(max_depth) + " levels at byte " + std::to_string(*too_deep_at), {},
                                "json_too_deep");
}

void check_function_name(const std::string& name, const std::string& path) {
  bool valid = !name.empty() && name.size() <= 64 &&
               std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-'; });
  if (!valid) violate(path, "must be 1 to 64 characters of a-z, A-Z, 0-9, _ and -; got \"" + name + "\"");
}

void check_tool_choice(const std::optional<ToolChoice>& choice, const std::vector<Tool>& tools, const std::string& name_path) {
  if (!choice) return;
  if (choice->mode == ToolChoice::Mode::function) {
    bool known = std::any_of(tools.begin(), tools.end(), [&](const Tool& tool) { return tool.name == choice->function_name; });
    if (!known) violate(name_path, "names no function in 'tools'; got \"" + choice->function_name + "\"");
  }
  if (choice->mode != ToolChoice::Mode::none && choice->mode != ToolChoice::Mode::automatic && tools.empty()) violate("tool_choice", "requires 'tools'");
}

}  // namespace mg
