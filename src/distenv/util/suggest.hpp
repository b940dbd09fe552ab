#pragma once

#include <string>
#include <vector>

namespace distenv {

// "Did you mean": the choice nearest to `word` by edit distance (Levenshtein),
// if it is at most `max_distance` edits away (and nearer than the word's own
// length, so a short word is not "corrected" into anything); else "". Ties go
// to the first choice, as given.
std::string nearest(const std::string& word, const std::vector<std::string>& choices,
                    size_t max_distance = 2);

} // namespace distenv
