#include "pipeline/build/git.h"

#include <fmt/format.h>

#include "pipeline/build/command.h"

namespace cutover::build {
namespace {

struct GitRun {
  std::vector<std::string> out;
  std::vector<std::string> err;
};

Result<GitRun> git(const std::filesystem::path& cwd, std::vector<std::string> args,
                   const GitOptions& options) {
  Command command;
  command.argv = {"git"};
  // No system or user configuration may change what is fetched, and git never waits for a
  // password on a terminal that nobody watches.
  command.argv.insert(command.argv.end(),
                      {"-c", "advice.detachedHead=false", "-c", "init.defaultBranch=main", "-c",
                       "core.hooksPath=/dev/null"});
  command.argv.insert(command.argv.end(), args.begin(), args.end());
  command.cwd = cwd;
  command.env = options.env;
  command.env.push_back("GIT_TERMINAL_PROMPT=0");
  command.env.push_back("GIT_CONFIG_NOSYSTEM=1");
  command.timeout = options.timeout;
  GitRun run;
  auto result = runCommand(
      command,
      [&](Stream stream, std::string_view line) {
        (stream == Stream::out ? run.out : run.err).emplace_back(line);
        // git's stdout is what it was asked for (ls-remote, log); its stderr says what it did.
        if (options.log != nullptr && stream == Stream::err) options.log->output(true, line);
      },
      options.stop);
  if (!result) return tl::unexpected(result.error());
  if (!result->ok()) {
    std::string said;
    for (const auto& line : run.err) said += (said.empty() ? "" : "; ") + line;
    return fail(result->cancelled ? Errc::interrupted : Errc::unavailable,
                fmt::format("git {} {}{}{}", args.front(), result->describe(command.timeout),
                            said.empty() ? "" : ": ", said));
  }
  return run;
}

}  // namespace

bool isCommitId(std::string_view text) {
  if (text.size() != 40 && text.size() != 64) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string gitUrl(const std::string& repo) {
  if (!repo.empty() && repo.front() == '/') return "file://" + repo;
  return repo;
}

Result<CommitInfo> checkoutCommit(const std::string& repo, const std::string& ref,
                                  const std::filesystem::path& dir, const GitOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail(Errc::io, "cannot create " + dir.string() + ": " + ec.message());
  if (auto r = git(dir, {"init", "-q", "."}, options); !r) return tl::unexpected(r.error());
  std::string wanted = isCommitId(ref) || ref.starts_with("refs/") ? ref : "refs/heads/" + ref;
  if (auto r =
          git(dir, {"fetch", "-q", "--depth", "1", "--no-tags", gitUrl(repo), wanted}, options);
      !r) {
    return tl::unexpected(r.error());
  }
  if (auto r = git(dir, {"checkout", "-q", "--detach", "FETCH_HEAD"}, options); !r) {
    return tl::unexpected(r.error());
  }
  auto shown = git(dir, {"log", "-1", "--format=%H%n%an <%ae>%n%s", "HEAD"}, options);
  if (!shown) return tl::unexpected(shown.error());
  if (shown->out.size() < 2) return fail(Errc::io, "git log printed no commit");
  CommitInfo info;
  info.sha = shown->out[0];
  info.author = shown->out[1];
  info.subject = shown->out.size() > 2 ? shown->out[2] : "";
  return info;
}

Result<std::string> remoteHead(const std::string& repo, const std::string& branch,
                               const GitOptions& options) {
  std::string ref = branch.starts_with("refs/") ? branch : "refs/heads/" + branch;
  auto listed =
      git(std::filesystem::temp_directory_path(), {"ls-remote", gitUrl(repo), ref}, options);
  if (!listed) return tl::unexpected(listed.error());
  for (const auto& line : listed->out) {
    auto tab = line.find('\t');
    if (tab != std::string::npos && line.substr(tab + 1) == ref) return line.substr(0, tab);
  }
  return fail(Errc::not_found, fmt::format("{} has no {} {}", repo,
                                           branch.starts_with("refs/") ? "ref" : "branch", branch));
}

}  // namespace cutover::build
