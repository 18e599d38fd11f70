#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "cutover/common/result.h"
#include "cutover/pipeline/source.h"
#include "cutover/pointer/records.h"

namespace cutover::cli {

// Reported while blobs upload: bytes and blobs done of the totals to upload.
using UploadProgress = std::function<void(std::uint64_t done, std::uint64_t total,
                                          std::uint64_t blobs_done, std::uint64_t blobs_total)>;

struct RemoteDeployOptions {
  std::string url;    // the API's base URL, e.g. "https://host:8081"
  std::string token;  // a deploy token for the site (or an admin token)
  std::string site;
  std::filesystem::path source;  // a folder or an archive, as for a local deploy
  bool activate = true;
  std::int64_t preview_seconds = kDefaultPreviewSeconds;
  unsigned parallel = 4;  // blobs uploaded at once
  SourceLimits limits;
  UploadProgress progress;  // called from the upload threads, one call at a time
};

struct RemoteDeployReport {
  std::string deploy_id, site, version, previous, live_url;
  std::string preview_until;  // RFC 3339; empty: no preview link
  std::string locked;  // why the site's deploys are locked, when that kept it from going live
  bool activated = false;
  std::uint64_t files = 0, bytes = 0;
  std::uint64_t blobs = 0;     // distinct contents among the files
  std::uint64_t uploaded = 0;  // blobs the server lacked, and so were sent
  std::uint64_t uploaded_bytes = 0;
};

// Deploys a local folder or archive to a remote API incrementally: hashes every file, sends
// the file list, uploads only the blobs the server lacks (several at once), then finalizes,
// which commits the version and makes it live. Server refusals come back with the server's
// message; a lost activation race is conflict, as for a local deploy.
[[nodiscard]] Result<RemoteDeployReport> remoteDeploy(const RemoteDeployOptions& options);

struct RemoteDeployArgs {
  std::string source, site, url, token;
  bool no_activate = false;
  bool json = false;
  unsigned threads = 0;
  std::int64_t preview_seconds = kDefaultPreviewSeconds;
};

// `cutover deploy SOURCE --site S --remote URL`: runs remoteDeploy and prints what it did.
int runRemoteDeploy(const RemoteDeployArgs& args);

}  // namespace cutover::cli
