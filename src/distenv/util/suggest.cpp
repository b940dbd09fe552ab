// "Did you mean": the nearest known word, as git suggests commands.
#include <distenv/util/suggest.hpp>

#include <algorithm>

namespace distenv {

namespace {

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

} // namespace

std::string nearest(const std::string& word, const std::vector<std::string>& choices, size_t max_distance) {
  std::string best;
  size_t best_distance = std::min(max_distance + 1, word.size());
  for (const std::string& c : choices)
    if (const size_t d = edit_distance(word, c); d < best_distance)
      best_distance = d, best = c;
  return best;
}

} // namespace distenv
