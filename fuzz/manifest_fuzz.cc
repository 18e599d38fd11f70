// A stored manifest, as read back from an object store (which a damaged disk or another writer
// may have changed): parsed and validated; what it accepts must write back to the same manifest
// and index for the edge.
#include "cutover/store/manifest.h"
#include "edge/routing_table.h"
#include "fuzz_support.h"

using cutover::fuzz::check;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto m = cutover::Manifest::fromJson(cutover::fuzz::text(data, size));
  if (!m) {
    check(!m.error().message.empty(), "a refused manifest says why");
    return 0;
  }
  std::string json = m->toJson();
  auto again = cutover::Manifest::fromJson(json);
  check(again.has_value(), "a manifest's own JSON parses");
  check(*again == *m, "a manifest survives writing and reading");
  (void)m->totalBytes();
  cutover::edge::VersionIndex index(*m);  // what the edge builds from it
  check(index.size() == m->files.size(), "the edge indexes every file");
  return 0;
}
