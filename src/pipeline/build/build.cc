#include "pipeline/build/build.h"

#include <fmt/format.h>
#include <unistd.h>

#include "pipeline/build/command.h"

namespace cutover::build {
namespace {

// The output folder, checked: it exists, holds at least one file, and is inside the checkout
// (a build could make it a symlink to anywhere; the deploy reads it outside any sandbox).
Result<std::filesystem::path> checkOutput(const BuildPlan& plan, const Workspace& workspace) {
  std::error_code ec;
  auto checkout = std::filesystem::canonical(workspace.source(), ec);
  if (ec) return fail(Errc::io, "the checkout vanished: " + ec.message());
  auto output = workspace.source() / plan.site.output;
  if (!std::filesystem::exists(output, ec)) {
    return fail(Errc::invalid_argument,
                fmt::format("the build finished but its output folder '{}' does not exist "
                            "(output = \"{}\" in the site's config)",
                            plan.site.output, plan.site.output));
  }
  auto real = std::filesystem::canonical(output, ec);
  if (ec)
    return fail(Errc::io, fmt::format("cannot resolve output folder '{}': {}", plan.site.output,
                                      ec.message()));
  auto rel = real.lexically_relative(checkout);
  if (rel.empty() || *rel.begin() == ".." || rel == ".") {
    return fail(Errc::invalid_argument,
                fmt::format("the output folder '{}' leads outside the checkout", plan.site.output));
  }
  if (!std::filesystem::is_directory(real, ec)) {
    return fail(Errc::invalid_argument,
                fmt::format("the output '{}' is not a folder", plan.site.output));
  }
  bool any_file = false;
  for (auto it = std::filesystem::recursive_directory_iterator(real, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) {
      any_file = true;
      break;
    }
  }
  if (!any_file) {
    return fail(
        Errc::invalid_argument,
        fmt::format("the build finished but its output folder '{}' is empty", plan.site.output));
  }
  return real;
}

bool bwrapInstalled(const std::vector<std::string>& env) {
  for (const auto& e : env) {
    if (!e.starts_with("PATH=")) continue;
    std::string path = e.substr(5);
    std::size_t start = 0;
    while (start <= path.size()) {
      auto end = path.find(':', start);
      if (end == std::string::npos) end = path.size();
      if (::access((path.substr(start, end - start) + "/bwrap").c_str(), X_OK) == 0) return true;
      start = end + 1;
    }
  }
  return false;
}

}  // namespace

Workspace::~Workspace() {
  std::error_code ec;
  std::filesystem::remove_all(root_, ec);
}

std::vector<std::string> buildArgv(const BuildPlan& plan, const Workspace& workspace) {
  std::vector<std::string> shell{"/bin/sh", "-c", plan.site.build};
  if (!plan.site.sandbox) return shell;
  // Read-only system, writable workspace only, fresh /dev, /proc and /tmp, every namespace
  // unshared (no network unless the site allows it), its own session (no terminal injection),
  // and gone when its parent goes. The data folder is covered by an empty tmpfs, so a build
  // cannot read other sites' files or the history; the workspace is bound back inside it.
  std::string ws = workspace.root().string();
  std::vector<std::string> argv{"bwrap", "--ro-bind", "/",     "/",       "--dev",
                                "/dev",  "--proc",    "/proc", "--tmpfs", "/tmp"};
  if (!plan.hidden.empty()) argv.insert(argv.end(), {"--tmpfs", plan.hidden.string()});
  argv.insert(argv.end(), {"--bind", ws, ws, "--unshare-all"});
  if (plan.site.sandbox_network) argv.emplace_back("--share-net");
  argv.insert(argv.end(),
              {"--new-session", "--die-with-parent", "--chdir", workspace.source().string()});
  argv.insert(argv.end(), shell.begin(), shell.end());
  return argv;
}

Result<BuildResult> buildSite(const BuildPlan& plan, const Workspace& workspace, BuildLog& log,
                              const StageCallback& stage, std::stop_token stop) {
  std::error_code ec;
  std::filesystem::create_directories(workspace.home(), ec);
  if (ec) return fail(Errc::io, "cannot create " + workspace.home().string() + ": " + ec.message());
  auto env = cleanEnvironment(workspace.home(), plan.site.env);

  if (stage) stage("fetching");
  log.note(fmt::format("fetching {} of {}", plan.ref, gitUrl(plan.site.repo)));
  GitOptions git;
  git.env = cleanEnvironment(workspace.home());
  git.timeout = plan.site.build_timeout;
  git.log = &log;
  git.stop = stop;
  auto commit = checkoutCommit(plan.site.repo, plan.ref, workspace.source(), git);
  if (!commit) {
    log.note("fetch failed: " + commit.error().message);
    return tl::unexpected(commit.error());
  }
  log.note(fmt::format("commit {} by {}: {}", commit->sha, commit->author, commit->subject));

  if (stage) stage("building");
  if (plan.site.sandbox && !bwrapInstalled(env)) {
    return fail(Errc::invalid_argument,
                fmt::format("site {} asks for sandbox = true but bwrap is not installed; install "
                            "bubblewrap or set sandbox = false",
                            plan.site.name));
  }
  Command command;
  command.argv = buildArgv(plan, workspace);
  command.cwd = workspace.source();
  command.env = env;
  command.timeout = plan.site.build_timeout;
  log.note(fmt::format("running {}{}", plan.site.build, plan.site.sandbox ? " (sandboxed)" : ""));
  auto ran = runCommand(
      command, [&](Stream s, std::string_view line) { log.output(s == Stream::err, line); }, stop);
  if (!ran) return tl::unexpected(ran.error());
  log.note(fmt::format("build command {} after {:.2f} s", ran->describe(command.timeout),
                       ran->ms / 1000.0));
  if (!ran->ok()) {
    auto tail = log.tail();
    return fail(ran->cancelled ? Errc::interrupted : Errc::invalid_argument,
                fmt::format("build command {}{}{}", ran->describe(command.timeout),
                            tail.empty() ? "" : "; last lines of its output:\n", tail));
  }
  auto output = checkOutput(plan, workspace);
  if (!output) {
    log.note(output.error().message);
    return tl::unexpected(output.error());
  }
  return BuildResult{*commit, *output, ran->ms};
}

}  // namespace cutover::build
