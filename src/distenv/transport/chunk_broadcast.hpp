#pragma once

#include <distenv/pack/chunk_stream.hpp>
#include <distenv/transport/comm.hpp>
#include <distenv/transport/schedule.hpp>

#include <cstdint>
#include <exception>
#include <vector>

namespace distenv::transport {

// Message tags of the stream: data chunks, end of stream, abort.
inline constexpr int k_tag_data = 0x6401;
inline constexpr int k_tag_end = 0x6402;
inline constexpr int k_tag_abort = 0x6403;

struct BroadcastResult {
  bool complete = true; // false: the root aborted the stream
  uint64_t bytes = 0;   // stream bytes this rank received (root: sent)
  uint64_t chunks = 0;
  std::exception_ptr sink_error; // the sink threw this and was dropped
};

// A pipelined broadcast of a chunk stream over the Comm's point-to-point
// calls, along `schedule` (this rank's links in one tree, or in the two trees
// of a two-tree: chunk k travels tree k % trees). Each chunk is forwarded to
// this rank's children as soon as it arrives, while the next one travels;
// with two trees a rank receives from both parents at once and hands chunks
// to its sink in stream order. `depth` buffers per tree bound memory to
// trees x depth x chunk_size, whatever the stream's length.
//
// Root: pulls chunks from `source` until it returns an empty chunk. If
// `source` throws (or yields a chunk larger than `chunk_size`), the receivers
// are told to abort (along every tree) and the exception is rethrown once
// they have been told. Others: receive, forward, then put() into `sink`
// (which may be null). A sink that throws is dropped (its error is in the
// result); the stream is still forwarded, so one machine's local failure
// (disk full) never stalls the others. Only CommError escapes on a non-root
// rank.
BroadcastResult broadcast_chunks(Comm& comm, const std::vector<Links>& schedule, size_t chunk_size, int depth,
                                 pack::ChunkSource* source, pack::ChunkSink* sink);
BroadcastResult broadcast_chunks(Comm& comm, const Links& links, size_t chunk_size, int depth,
                                 pack::ChunkSource* source, pack::ChunkSink* sink);

// The same stream through the communication library's own broadcast
// (`--broadcast mpi`): a window of `depth` ibroadcasts of chunk-sized
// messages from `root`, so an MPI whose broadcast is offloaded or multicast by
// the fabric carries it. Same contract as above.
BroadcastResult broadcast_chunks_collective(Comm& comm, int root, size_t chunk_size, int depth,
                                            pack::ChunkSource* source, pack::ChunkSink* sink);

// The stream as `plan` says, from rank 0 of `comm`: broadcast_chunks_collective
// for `mpi`, else broadcast_chunks along the plan's schedule.
BroadcastResult broadcast_stream(Comm& comm, const BroadcastPlan& plan, pack::ChunkSource* source,
                                 pack::ChunkSink* sink);

} // namespace distenv::transport
