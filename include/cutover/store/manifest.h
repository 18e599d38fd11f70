#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "cutover/common/result.h"

namespace cutover {

// One file of a version.
struct FileEntry {
  std::string hash;        // SHA-256 of the bytes, 64 lowercase hex: the blob's name and the ETag
  std::uint64_t size = 0;  // bytes
  std::string media_type;  // Content-Type, chosen at deploy time

  bool operator==(const FileEntry&) const = default;
};

// What a version is. A version exists once its manifest is committed, and never changes after.
struct Manifest {
  std::string site;
  std::string version;
  std::string created;  // RFC 3339, UTC, e.g. 2026-11-27T19:55:29.123Z
  std::string source;   // where it came from: a folder path or an archive's file name
  std::map<std::string, FileEntry> files;  // normalized path (no leading '/') → entry

  [[nodiscard]] std::uint64_t totalBytes() const;
  [[nodiscard]] std::string toJson() const;
  // Parses and validates: names, hashes and paths must be well-formed (invalid_argument if not).
  [[nodiscard]] static Result<Manifest> fromJson(std::string_view json);

  bool operator==(const Manifest&) const = default;
};

// The current time as RFC 3339 UTC with milliseconds.
[[nodiscard]] std::string nowRfc3339();

}  // namespace cutover
