#pragma once

#include <distenv/pack/chunks.hpp>
#include <distenv/transport/schedule.hpp>

#include <mpi.h>

#include <cstdint>

namespace distenv::transport {

struct BroadcastResult {
  bool complete = true; // false: the root aborted the stream
  uint64_t bytes = 0;   // stream bytes this rank received (root: sent)
  uint64_t chunks = 0;
};

// A pipelined broadcast of a chunk stream over plain MPI point-to-point
// (so the same code compiles against SimGrid's SMPI): each chunk is
// forwarded to this rank's children as soon as it arrives, while the next
// one travels. `depth` send buffers per rank bound memory to depth x
// chunk_size, whatever the stream's length.
//
// Root: pulls chunks from `source` until it returns an empty chunk. If
// `source` throws, the receivers are told to abort and the exception is
// rethrown once they have been told. Others: receive from the parent,
// forward, then put() into `sink` (which may be null). A sink that throws is
// dropped; the stream is still forwarded, so one machine's local failure
// (disk full) never stalls the others.
BroadcastResult broadcast_chunks(MPI_Comm comm, const Links& links, size_t chunk_size, int depth,
                                 pack::ChunkSource* source, pack::ChunkSink* sink);

} // namespace distenv::transport
