#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cutover {

// The words below are what the history, the API's JSON and the CLI say; code names them by these
// enums, and each enum has its one mapping to and from its words here.

// Where a deploy is: "queued" (waiting for a worker), "running", then one of "succeeded",
// "failed", "superseded" (a newer request for the site arrived while this one waited), "ignored"
// (not built, for the reason in `error`: a pushed commit that is no longer its branch's head).
enum class DeployStatus { queued, running, succeeded, failed, superseded, ignored };
inline constexpr std::array<std::string_view, 6> kDeployStatusNames{
    "queued", "running", "succeeded", "failed", "superseded", "ignored"};

// A timed stage (StageTiming): "fetch" and "build" (a build job), "store" (a local source's
// blobs) or "upload" (a remote deploy's, from its start to its finalize), "compress", "commit",
// "activate".
enum class Stage { fetch, build, store, upload, compress, commit, activate };
inline constexpr std::array<std::string_view, 7> kStageNames{
    "fetch", "build", "store", "upload", "compress", "commit", "activate"};

// A mark on a queued deploy's timeline (StageMark, DeployRecord::stage): "queued", "fetching",
// "building", "uploading", "activating", and "finished" when it ended (whatever the outcome).
enum class Mark { queued, fetching, building, uploading, activating, finished };
inline constexpr std::array<std::string_view, 6> kMarkNames{"queued",    "fetching",   "building",
                                                            "uploading", "activating", "finished"};

template <typename Enum, std::size_t N>
constexpr std::string_view nameOf(const std::array<std::string_view, N>& names, Enum value) {
  return names.at(static_cast<std::size_t>(value));
}
template <typename Enum, std::size_t N>
constexpr std::optional<Enum> parseName(const std::array<std::string_view, N>& names,
                                        std::string_view text) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == text) return static_cast<Enum>(i);
  }
  return std::nullopt;
}
constexpr std::string_view toString(DeployStatus s) { return nameOf(kDeployStatusNames, s); }
constexpr std::string_view toString(Stage s) { return nameOf(kStageNames, s); }
constexpr std::string_view toString(Mark m) { return nameOf(kMarkNames, m); }
constexpr std::optional<DeployStatus> parseDeployStatus(std::string_view text) {
  return parseName<DeployStatus>(kDeployStatusNames, text);
}
constexpr std::optional<Mark> parseMark(std::string_view text) {
  return parseName<Mark>(kMarkNames, text);
}

struct StageTiming {
  std::string name;  // a Stage's name
  double ms = 0;
};

// When a deploy entered one of its stages.
struct StageMark {
  std::string name;        // a Mark's name
  std::int64_t at_ms = 0;  // Unix time in milliseconds
};

// One run of the pipeline, as recorded.
struct DeployRecord {
  std::string id;
  std::string site;
  std::string version;  // empty until a version id is chosen
  std::string source;   // folder path or archive file name
  std::string trigger;  // "cli", "push", "webhook", "poll", "api", "manual"
  std::string status;   // a DeployStatus's name
  bool activated = false;
  std::string started;   // RFC 3339
  std::string finished;  // RFC 3339, empty while running
  std::int64_t pid = 0;  // the process running it
  std::uint64_t files = 0, new_files = 0, reused_files = 0;
  std::uint64_t bytes = 0, new_bytes = 0;
  std::vector<StageTiming> stages;
  std::string error;  // why it failed

  // Pipeline deploys (built from git or uploaded), added by schema version 2; empty for others.
  std::string stage;                // the current Mark's name; "" once finished
  std::vector<StageMark> timeline;  // every stage entered, in order
  std::string branch;               // the branch asked for
  std::string commit;               // the commit asked for (if any), then the one built
  std::string commit_message;       // its subject line
  std::string commit_author;        // "Name <email>"
  std::string archive;              // an uploaded archive deployed instead of a build
  bool remove_archive = false;      // the archive is the pipeline's to delete when done
  std::string log;                  // the deploy's log file

  // Flips recorded by History::recordFlip (trigger "rollback" or "activate"), added by schema
  // version 3: the version live before, and who flipped: "user NAME" or "token ID".
  std::string previous;
  std::string actor;

  // Schema version 4: a preview build (`pipeline run --preview`) is stored with its preview link
  // open and never made live; its build sees CUTOVER_CONTEXT=preview. `locked`: the deploy was
  // stored but not made live because the site's deploys were locked (`cutover lock`).
  bool preview = false;
  bool locked = false;

  // Schema version 5: previews of branches and pull requests. A preview build of a branch other
  // than the site's production branch, or of a pull request (`pr`, its number), moves that
  // branch's or pull request's alias (`alias`, once moved: <alias>--<site>.<preview domain>).
  // `head_ref` is the ref whose head the commit must still be when the build starts
  // ("refs/heads/B", "refs/pull/N/head"); empty: the branch's.
  std::uint64_t pr = 0;
  std::string head_ref;
  std::string alias;

  [[nodiscard]] bool is(DeployStatus s) const { return status == toString(s); }
  [[nodiscard]] bool finishedOutcome() const {
    auto s = parseDeployStatus(status);
    return s && *s != DeployStatus::queued && *s != DeployStatus::running;
  }
  // The record as JSON (the API's answers, `cutover deploys --json`); the log file and pid,
  // which are this machine's, are left out.
  [[nodiscard]] nlohmann::json toJson() const;
};

// A new deploy id: "d-<yyyymmdd>-<hhmmss>-<6 hex>".
[[nodiscard]] std::string newDeployId();

// Unix time in milliseconds, as StageMark::at_ms holds it.
[[nodiscard]] std::int64_t nowUnixMs();

}  // namespace cutover
