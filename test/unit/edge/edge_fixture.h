#pragma once

// Builds sites in the in-memory stores, the way a deploy would: blobs, a manifest, a pointer.

#include <gtest/gtest.h>

#include <ctime>
#include <map>
#include <memory>
#include <string>

#include "cutover/common/media_type.h"
#include "cutover/pointer/records.h"
#include "pointer/memory/memory_pointer_store.h"
#include "store/memory/memory_object_store.h"

namespace cutover::testing {

using Files = std::map<std::string, std::string>;  // path → content

// Stores `files` as version `version` of `site`; returns the manifest.
inline Manifest putVersion(ObjectStore& objects, const std::string& site,
                           const std::string& version, const Files& files) {
  Manifest m;
  m.site = site;
  m.version = version;
  m.created = nowRfc3339();
  m.source = "test";
  for (const auto& [path, content] : files) {
    auto writer = objects.newBlob();
    EXPECT_TRUE(writer);
    EXPECT_TRUE((*writer)->write(std::as_bytes(std::span(content.data(), content.size()))));
    auto stored = (*writer)->finish();
    EXPECT_TRUE(stored);
    m.files[path] = FileEntry{stored->hash, content.size(), std::string(mediaTypeFor(path))};
  }
  auto committed = objects.commitManifest(m);
  EXPECT_TRUE(committed) << (committed ? "" : committed.error().describe());
  return m;
}

// Points live/<site> at `version` the way a deploy does (compare-and-set from whatever it holds
// now, LivePointer::next: the version going out is `previous` and joins `retired`).
inline void setLive(PointerStore& pointers, const std::string& site, const std::string& version) {
  auto current = pointers.get(liveKey(site));
  ASSERT_TRUE(current);
  LivePointer before;
  if (*current) {
    auto parsed = LivePointer::fromJson(**current);
    ASSERT_TRUE(parsed);
    before = std::move(*parsed);
  }
  LivePointer p = before.next(version, nowRfc3339(), "test", std::time(nullptr));
  ASSERT_TRUE(pointers.compareAndSet(liveKey(site), *current, p.toJson()));
}

// Opens the preview link of a stored version for `seconds`, as a deploy does.
inline void openPreview(PointerStore& pointers, const std::string& site, const std::string& version,
                        std::int64_t seconds = 3600) {
  auto now = std::time(nullptr);
  ASSERT_TRUE(setPreviewLink(pointers, site, version, now + seconds, now));
}

inline void setHosts(PointerStore& pointers, const std::string& site,
                     std::vector<std::string> hosts) {
  auto current = pointers.get(siteKey(site));
  ASSERT_TRUE(current);
  SiteSettings s{std::move(hosts)};
  ASSERT_TRUE(pointers.compareAndSet(siteKey(site), *current, s.toJson()));
}

}  // namespace cutover::testing

#include <chrono>
#include <functional>
#include <thread>

namespace cutover::testing {

// Polls `done` every millisecond for up to `timeout` (long: a loaded machine is slow, and a
// condition that holds returns at once); true once it holds.
inline bool eventually(const std::function<bool()>& done,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return done();
}

}  // namespace cutover::testing
