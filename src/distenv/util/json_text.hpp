#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace distenv {

// True when `s` is well-formed UTF-8 (what JSON text must be).
bool is_utf8(std::string_view s);

// A string in a JSON file distenv writes and reads back: UTF-8 as it is;
// anything else (a directory name in another encoding) as {"hex": "..."},
// so that every byte survives the round trip.
nlohmann::ordered_json json_text(const std::string& s);
// The string json_text() stored. Throws nlohmann's exceptions on bad input.
std::string text_of(const nlohmann::json& j);

// JSON for people (reports): bytes that are not UTF-8 become U+FFFD
// instead of failing the whole report.
std::string dump_for_people(const nlohmann::ordered_json& j);

} // namespace distenv
