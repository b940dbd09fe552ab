#pragma once

#include <distenv/transport/comm.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace distenv::transport {

// One serializer for everything a job sends in a collective: a type with
// nlohmann's to_json/from_json (NLOHMANN_DEFINE_TYPE_*), sent as CBOR
// (compact, binary, self-describing). Malformed bytes are a CommError: they
// can only come from a broken peer or transport.
template <typename T> std::string encode(const T& value) {
  const std::vector<std::uint8_t> bytes = nlohmann::json::to_cbor(nlohmann::json(value));
  return std::string(bytes.begin(), bytes.end());
}

template <typename T> T decode(const std::string& bytes) {
  try {
    return nlohmann::json::from_cbor(bytes).get<T>();
  } catch (const nlohmann::json::exception& e) {
    throw CommError(std::string("malformed message from a peer: ") + e.what());
  }
}

template <typename T> T broadcast_value(Comm& comm, const T& value, int root) {
  return decode<T>(comm.broadcast(comm.rank() == root ? encode(value) : std::string(), root));
}

template <typename T> std::vector<T> all_gather_values(Comm& comm, const T& value) {
  std::vector<T> out;
  for (const std::string& bytes : comm.all_gather(encode(value)))
    out.push_back(decode<T>(bytes));
  return out;
}

template <typename T> std::vector<T> gather_values(Comm& comm, const T& value, int root) {
  std::vector<T> out;
  for (const std::string& bytes : comm.gather(encode(value), root))
    out.push_back(decode<T>(bytes));
  return out;
}

} // namespace distenv::transport
