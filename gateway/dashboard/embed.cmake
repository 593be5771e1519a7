# Writes OUTPUT, a C++ file defining mg::gateway::dashboard_html() as the bytes of INPUT.
file(READ ${INPUT} html)
string(FIND "${html}" ")mgdash\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw string's delimiter )mgdash\"")
endif()
file(WRITE ${OUTPUT} "// Generated from gateway/dashboard/dashboard.html by gateway/dashboard/embed.cmake; do not edit.\n"
  "#include \"gateway/api.h\"\n\nnamespace mg::gateway {\n\nstd::string_view dashboard_html() {\n"
  "  static constexpr std::string_view kPage = R\"mgdash(${html})mgdash\";\n  return kPage;\n}\n\n}  // namespace mg::gateway\n")
