// libFuzzer harness: a Manifest.toml from anywhere must be read or refused
// with an InputError, never crash; what is read must lay out and rewrite.
#include <distenv/env/environment.hpp>
#include <distenv/layout/layout.hpp>
#include <distenv/util/error.hpp>

#include <boost/filesystem/operations.hpp>

#include <fstream>

namespace fs = boost::filesystem;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const fs::path project = [] {
    char tmpl[] = "/dev/shm/distenv-fuzz-XXXXXX";
    fs::path base(::mkdtemp(tmpl));
    fs::create_directories(base / "p");
    fs::create_directories(base / "Foo");
    std::ofstream(base / "p/Project.toml") << "[deps]\nFoo = \"1\"\n";
    std::ofstream(base / "Foo/Project.toml") << "name = \"Foo\"\n";
    return base / "p";
  }();
  {
    std::ofstream out((project / "Manifest.toml").string(), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    auto env = distenv::env::read_environment({project, {}});
    auto layout = distenv::layout::make_layout(env);
    (void)distenv::layout::build_tree(env, layout, 1);
  } catch (const distenv::InputError&) {
  } catch (const distenv::Error&) {
  }
  return 0;
}
