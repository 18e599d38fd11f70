#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "cutover/common/result.h"
#include "cutover/rules/rules.h"

namespace cutover {

// A precompressed form of a file, stored as a blob of its own.
struct Encoded {
  std::string hash;        // SHA-256 of the compressed bytes
  std::uint64_t size = 0;  // compressed bytes

  [[nodiscard]] bool present() const { return !hash.empty(); }
  bool operator==(const Encoded&) const = default;
};

// One file of a version.
struct FileEntry {
  std::string hash;        // SHA-256 of the bytes, 64 lowercase hex: the blob's name and the ETag
  std::uint64_t size = 0;  // bytes
  std::string media_type;  // Content-Type, chosen at deploy time
  Encoded br;              // brotli form, when made at deploy time and smaller; else empty
  Encoded gzip;            // gzip form, likewise

  bool operator==(const FileEntry&) const = default;
};

// What a version is. A version exists once its manifest is committed, and never changes after.
struct Manifest {
  std::string site;
  std::string version;
  std::string created;  // RFC 3339, UTC, e.g. 2026-11-27T19:55:29.123Z
  std::string source;   // where it came from: a folder path or an archive's file name
  std::map<std::string, FileEntry> files;  // normalized path (no leading '/') → entry
  SiteRules rules;  // from the deploy's `_redirects` and `_headers`, which are not files
  // Paths named like content-hashed files (hasContentHashName) whose content changed under that
  // name while a live version served them as immutable: the edge serves them with the site's
  // short policy instead, and the deploy that found them warned.
  std::set<std::string> short_cache;

  [[nodiscard]] std::uint64_t totalBytes() const;
  [[nodiscard]] std::string toJson() const;
  // Parses and validates: names, hashes and paths must be well-formed (invalid_argument if not).
  [[nodiscard]] static Result<Manifest> fromJson(std::string_view json);

  bool operator==(const Manifest&) const = default;
};

// The current time as RFC 3339 UTC with milliseconds.
[[nodiscard]] std::string nowRfc3339();
// Unix seconds as RFC 3339 UTC ("2026-12-12T16:00:00Z").
[[nodiscard]] std::string rfc3339(std::int64_t unix_seconds);

}  // namespace cutover
