// The ObjectStore contract: every guarantee object_store.h documents, as a fixture parameterised
// by backend. object_store_contract.cc holds the tests; each backend's file instantiates them.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <latch>
#include <thread>

#include "cutover/common/hash.h"
#include "cutover/store/object_store.h"
#include "support/temp_dir.h"

namespace cutover::contract {

using cutover::testing::TempDir;

struct ObjectStoreBackend {
  std::string name;
  std::function<ObjectStorePtr(const std::filesystem::path& dir)> make;
};

inline void PrintTo(const ObjectStoreBackend& backend, std::ostream* out) { *out << backend.name; }

inline std::span<const std::byte> asBytes(std::string_view text) {
  return std::as_bytes(std::span(text.data(), text.size()));
}

// Stores `bytes` through a writer, in pieces of at most `chunk` bytes.
inline Result<StoredBlob> put(ObjectStore& store, std::string_view bytes,
                              std::string_view expected_hash = {}, std::size_t chunk = 1000) {
  auto writer = store.newBlob();
  if (!writer) return tl::unexpected(writer.error());
  for (std::size_t at = 0; at < bytes.size(); at += chunk) {
    if (auto ok = (*writer)->write(asBytes(bytes.substr(at, chunk))); !ok) {
      return tl::unexpected(ok.error());
    }
  }
  return (*writer)->finish(expected_hash);
}

inline Manifest makeManifest(std::string site, std::string version, std::string created,
                             std::map<std::string, std::string> files = {}) {
  Manifest m{std::move(site), std::move(version), std::move(created), "test", {}};
  for (const auto& [path, bytes] : files) {
    m.files[path] = FileEntry{sha256Hex(bytes), bytes.size(), "text/plain"};
  }
  return m;
}

inline std::string patterned(std::size_t size, unsigned seed) {
  std::string out(size, '\0');
  for (std::size_t i = 0; i < size; ++i) out[i] = static_cast<char>((i * 131 + seed * 7) % 251);
  return out;
}

class ObjectStoreContract : public ::testing::TestWithParam<ObjectStoreBackend> {
 protected:
  void SetUp() override {
    store_ = GetParam().make(dir_.path());
    if (IsSkipped()) return;  // a networked backend whose service is not running here
    ASSERT_NE(store_, nullptr);
  }

  TempDir dir_;
  ObjectStorePtr store_;
};

}  // namespace cutover::contract
