// Finding out what kind of environment a directory holds and reading it.
#include <distenv/env/environment.hpp>

#include <distenv/env/distenv_toml.hpp>
#include <distenv/env/julia.hpp>
#include <distenv/util/error.hpp>

#include <boost/filesystem/operations.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <pwd.h>
#include <regex>
#include <unistd.h>

namespace distenv::env {

std::optional<std::pair<int, int>> parse_julia_version(const std::string& text) {
  static const std::regex k_version(R"((\d+)\.(\d+)(?:\.\d+)?)");
  std::smatch m;
  if (!std::regex_match(text, m, k_version))
    return std::nullopt;
  return std::make_pair(std::stoi(m[1]), std::stoi(m[2]));
}

namespace {

// Home directories: this user's $HOME and every account's (passwd).
std::vector<fs::path> home_directories() {
  std::vector<fs::path> homes;
  boost::system::error_code ec;
  auto add = [&](const char* dir) {
    if (dir && *dir && std::string_view(dir) != "/")
      if (fs::path p = fs::canonical(dir, ec); !ec)
        homes.push_back(p);
  };
  add(std::getenv("HOME"));
  ::setpwent();
  while (struct passwd* pw = ::getpwent())
    if (pw->pw_uid == ::geteuid() || pw->pw_uid >= 1000 || pw->pw_uid == 0)
      add(pw->pw_dir);
  ::endpwent();
  return homes;
}

} // namespace

void add_root(Environment& env, const fs::path& dir, const std::string& where, const std::string& declared) {
  if (std::find(env.roots.begin(), env.roots.end(), dir) != env.roots.end())
    return;
  check_root(dir, where, declared);
  env.roots.push_back(dir);
  env.root_from.push_back(where);
}

void check_root(const fs::path& dir, const std::string& where, const std::string& declared) {
  const std::string what = fmt::format("{}: \"{}\"", where, declared);
  if (dir == dir.root_path())
    throw InputError(fmt::format(
        "{} is the whole file system ({}): name the directories the environment needs", what, dir.string()));
  for (const fs::path& home : home_directories()) {
    if (dir == home)
      throw InputError(
          fmt::format("{} is the home directory {}: everything in it would ship (ssh keys, shell "
                      "history, ...); name the directories the environment needs",
                      what, dir.string()));
    if (is_within(home, dir))
      throw InputError(
          fmt::format("{} ({}) holds the home directory {}: name the directories the environment "
                      "needs",
                      what, dir.string(), home.string()));
  }
}

void add_file(Environment& env, const fs::path& file) {
  if (std::find(env.files.begin(), env.files.end(), file) == env.files.end())
    env.files.push_back(file);
}

Environment read_environment(const ReadOptions& options) {
  boost::system::error_code ec;
  const fs::path given = options.project_dir.empty() ? fs::current_path() : options.project_dir;
  if (!fs::exists(given, ec))
    throw InputError(fmt::format("{}: no such directory", given.string()));
  if (!fs::is_directory(given, ec))
    throw InputError(fmt::format("{}: not a directory", given.string()));

  Environment env;
  env.gitignore = options.gitignore;
  env.allow_secrets = options.allow_secrets;
  env.project_dir = fs::canonical(given, ec);
  if (ec)
    throw InputError(fmt::format("{}: {}", given.string(), ec.message()));
  add_root(env, env.project_dir, "--project", given.string());

  const fs::path project = find_julia_project(env.project_dir);
  const fs::path generic_file = env.project_dir / "distenv.toml";
  const bool has_generic = fs::is_regular_file(generic_file, ec);

  if (project.empty()) {
    std::vector<fs::path> manifests = list_manifests(env.project_dir);
    if (!manifests.empty())
      throw InputError(fmt::format("{} has no Project.toml or JuliaProject.toml next to it "
                                   "(looked in {})",
                                   manifests.front().filename().string(), env.project_dir.string()));
    if (!has_generic)
      throw InputError(fmt::format("{}: no Project.toml, JuliaProject.toml or distenv.toml: "
                                   "nothing says what the environment is",
                                   env.project_dir.string()));
  } else {
    read_julia(env, options);
  }

  for (const DevPackage& dev : env.dev_packages)
    add_root(env, dev.source, dev.where, dev.declared);
  // The project file, the chosen manifest (inside the project, or a
  // workspace root's, or one `manifest =` names) and every file whose paths
  // are rewritten ship whatever ignore rules say, without the rest of
  // their directories.
  if (!env.project_file.empty())
    add_file(env, fs::canonical(env.project_file, ec));
  if (!env.manifest_file.empty()) {
    env.manifest_file = fs::canonical(env.manifest_file, ec);
    add_file(env, env.manifest_file);
  }
  for (const PathRef& ref : env.path_refs)
    add_file(env, fs::canonical(ref.file, ec));

  // distenv.toml comes last: its variables override the Julia defaults.
  if (has_generic)
    read_distenv_toml(env, generic_file);
  return env;
}

} // namespace distenv::env
