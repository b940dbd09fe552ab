#pragma once

#include <distenv/util/atomic_file.hpp>

#include <boost/filesystem/path.hpp>

#include <cstdint>
#include <string>

namespace distenv {

namespace fs = boost::filesystem;

// Whole-file helpers for small files (manifests, reports). Errors name the path
// and the OS error. read_file opens without blocking (a FIFO planted where a
// file should be cannot hang the reader) and reads only a regular file of at
// most `max_bytes`; `Follow::no` refuses a symlink (files in the store).
enum class Follow { yes, no };
std::string read_file(const fs::path& path, uint64_t max_bytes = uint64_t(256) << 20,
                      Follow follow = Follow::yes);
void write_file(const fs::path& path, const std::string& content);

// Through an AtomicFile (util/atomic_file.hpp): the old file or the new one.
void write_file_atomic(const fs::path& path, const std::string& content, Durability d = Durability::synced);

// Checks, before anything runs, that `path` (given with `option`, e.g.
// "--report"; nothing to check when empty) can be written as a new file:
// its directory exists and takes new files, it is not a directory, and it
// can be replaced. Throws InputError naming the path as the user gave it.
void check_output_path(const fs::path& path, const std::string& option);

// Absolute path of `program` found on `path_value` (a PATH string), or "".
// A name with a '/' is returned as it is when it is executable.
std::string find_program(const std::string& program, const std::string& path_value);

// The path with '/' separators, as stored in archives and reports.
std::string generic(const fs::path& path);

// True when `inner` is `outer` or lies below it (both absolute and normal).
bool is_within(const fs::path& inner, const fs::path& outer);

// The machine's host name (uname nodename).
std::string host_name();

// The name distenv gives this machine in messages and reports: the SLURM node
// name inside a SLURM job (where several nodes may share a host name in
// tests, and where users know nodes by it), else the host name.
std::string machine_name();

} // namespace distenv
