#pragma once

#include <boost/filesystem/path.hpp>

#include <string>

namespace distenv::env {

// A machine's compile class: the machines whose Julia compiled caches are
// valid on one another. Julia checks a cache against the build that made
// it (version, commit, system image) and, from 1.9 on, its native code
// against the CPU; two machines with the same Julia binary and system image
// (path, size, time) and the same CPU (model and features, from
// /proc/cpuinfo) are one class. Conservative: two CPUs Julia would treat
// alike but that report different models are two classes (each compiles
// once), never the other way round.
//
// "<arch>-<16 hex>", e.g. "x86_64-6c1f0a2b9d3e4f50"; names a directory.
std::string julia_class(const boost::filesystem::path& julia);

// The Julia build alone: its binary and system image (path, size, time),
// 16 hex digits.
std::string julia_build_id(const boost::filesystem::path& julia);

struct DepotUnit;
// The Julia installation `julia` (a path of its bin/julia) as one more unit
// of the depot, "runtimes/julia-<build id>": the directory above its bin.
DepotUnit runtime_unit(const boost::filesystem::path& julia);

// What julia_class hashes about the CPU: /proc/cpuinfo's model name (or
// CPU part) and features of the first processor.
std::string cpu_identity(const std::string& cpuinfo);

} // namespace distenv::env
