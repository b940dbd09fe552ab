#pragma once

#include <distenv/install/env_index.hpp>
#include <distenv/install/extract.hpp>
#include <distenv/install/listing.hpp>
#include <distenv/pack/chunk_stream.hpp>

#include <boost/filesystem/path.hpp>

#include <functional>
#include <string>

namespace distenv::install {

class Objects;

// Makes the tree `listing` at `dest` from what this machine has and what
// `source` brings: a tar+zstd stream (pack::PackOptions::contents_only) of
// the files whose contents the machine lacks, each once, in the listing's
// order. `dest` is either an empty directory, or holds the previous
// version of the environment (`base_index`: its complete index), which
// then becomes the new one in place: what differs is removed, what is new
// is made, every entry that is the same stays as it is (its inode, its
// mtime) and costs nothing. That is what makes a new version of a large
// environment cost what changed. Files not in the stream come from
// `objects`; what the stream brings becomes an object. Mutable files are
// always made again from their objects. Entries the base does not know (a
// worker wrote them) are removed where the new version needs the path.
// `on_indexed` is told of every entry of the new tree, in order, with its
// stat record. The result's tree hash is the listing's.
ExtractResult assemble(const Listing& listing, pack::ChunkSource& source, const boost::filesystem::path& dest,
                       const std::string* base_index, Objects& objects,
                       const std::function<void(const IndexedFile&)>& on_indexed);

} // namespace distenv::install
