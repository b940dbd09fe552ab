#pragma once

// The two ends of a broadcast stream, shared by its implementations: the
// sink a receiver feeds (dropped when it fails, so the stream still flows
// on to the others) and the source the root reads.
#include <distenv/pack/chunk_stream.hpp>
#include <distenv/transport/chunk_broadcast.hpp>

#include <fmt/format.h>

#include <exception>
#include <stdexcept>

namespace distenv::transport {

inline void feed(pack::ChunkSink*& sink, pack::Bytes chunk, BroadcastResult& result) {
  if (!sink)
    return;
  try {
    sink->put(chunk);
  } catch (...) {
    result.sink_error = std::current_exception();
    sink = nullptr; // keep forwarding for the others
  }
}

inline void close_sink(pack::ChunkSink* sink, BroadcastResult& result) {
  if (!sink)
    return;
  try {
    sink->close();
  } catch (...) {
    result.sink_error = std::current_exception();
  }
}

inline pack::Bytes next_chunk(pack::ChunkSource& source, size_t chunk_size) {
  pack::Bytes chunk = source.next();
  if (chunk.size() > chunk_size)
    throw std::logic_error(fmt::format("broadcast: a chunk of {} bytes is larger than the chunk size {}",
                                       chunk.size(), chunk_size));
  return chunk;
}

} // namespace distenv::transport
