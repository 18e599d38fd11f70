#include "pipeline/build/build.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <map>

#include "cutover/common/names.h"
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

// Inside the sandbox: the checkout, HOME and the cache.
const std::filesystem::path kSandboxSource = "/build/src";
const std::filesystem::path kSandboxHome = "/build/home";
const std::filesystem::path kSandboxCache = "/build/cache";
constexpr const char* kSandboxPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr uid_t kBuildUid = 65534;

// From the host's /etc, what builds need and nothing else: name resolution, CA certificates,
// the dynamic linker's cache, the alternatives /usr/bin links through (awk, editor), the time
// zone. Never the host's passwd, shadow or keys (/etc/ssl/private).
constexpr const char* kEtcFromHost[] = {
    "/etc/resolv.conf",     "/etc/hosts",           "/etc/ssl/certs",
    "/etc/ssl/openssl.cnf", "/etc/ca-certificates", "/etc/ca-certificates.conf",
    "/etc/pki/tls/certs",   "/etc/pki/ca-trust",    "/etc/alternatives",
    "/etc/ld.so.cache",     "/etc/ld.so.conf",      "/etc/ld.so.conf.d",
    "/etc/localtime",       "/etc/mime.types",      "/etc/protocols",
    "/etc/services"};

// The files of /etc a build gets made up for it: a passwd and group naming only its user.
Result<void> writeSandboxEtc(const std::filesystem::path& etc) {
  std::error_code ec;
  std::filesystem::create_directories(etc, ec);
  if (ec) return fail(Errc::io, "cannot create " + etc.string() + ": " + ec.message());
  const std::pair<const char*, std::string> files[] = {
      {"passwd", fmt::format("root:x:0:0:root:/root:/usr/sbin/nologin\n"
                             "build:x:{0}:{0}:build:{1}:/bin/sh\n",
                             kBuildUid, kSandboxHome.string())},
      {"group", fmt::format("root:x:0:\nbuild:x:{}:\n", kBuildUid)},
      {"nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n"}};
  for (const auto& [name, text] : files) {
    std::ofstream out(etc / name, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) return fail(Errc::io, "cannot write " + (etc / name).string());
  }
  return {};
}

// Hands the build's folders to the build user (when the pipeline runs as root).
Result<void> handOver(const std::filesystem::path& dir) {
  std::error_code ec;
  if (::lchown(dir.c_str(), kBuildUid, kBuildUid) != 0) {
    return failErrno("cannot hand " + dir.string() + " to the build user", errno);
  }
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (::lchown(it->path().c_str(), kBuildUid, kBuildUid) != 0) {
      return failErrno("cannot hand " + it->path().string() + " to the build user", errno);
    }
  }
  if (ec) return fail(Errc::io, "cannot walk " + dir.string() + ": " + ec.message());
  return {};
}

// Where the stage of a root pipeline's confined build lies: an existing folder that bwrap
// itself does not use (it lays its own root over /tmp).
std::filesystem::path stageFolder() {
  for (const char* candidate : {"/mnt", "/media", "/srv", "/opt"}) {
    std::error_code ec;
    if (std::filesystem::is_directory(candidate, ec) && !std::filesystem::is_symlink(candidate, ec))
      return candidate;
  }
  return {};
}

bool runsAsRoot() { return ::geteuid() == 0; }

// The workspace and cache as bwrap sees them: staged under the stage folder when the pipeline
// runs as root (see Confinement), the real folders otherwise.
struct SandboxPaths {
  std::filesystem::path workspace;
  std::filesystem::path cache;
};

SandboxPaths sandboxPaths(const BuildPlan& plan, const Workspace& workspace) {
  if (!runsAsRoot()) return {workspace.root(), plan.cache};
  auto stage = stageFolder();
  return {stage / "ws", plan.cache.empty() ? std::filesystem::path() : stage / "cache"};
}

// The package managers' caches, under `cache`.
void addCacheVariables(std::map<std::string, std::string>& env,
                       const std::filesystem::path& cache) {
  env["XDG_CACHE_HOME"] = cache.string();
  env["npm_config_cache"] = (cache / "npm").string();
  env["npm_config_store_dir"] = (cache / "pnpm-store").string();
  env["YARN_CACHE_FOLDER"] = (cache / "yarn").string();
  env["PIP_CACHE_DIR"] = (cache / "pip").string();
  env["GOMODCACHE"] = (cache / "go-mod").string();
  env["GOCACHE"] = (cache / "go-build").string();
}

std::string substituteVersion(std::string text, const std::string& version) {
  const std::string token = "{version}";
  for (auto at = text.find(token); at != std::string::npos; at = text.find(token, at)) {
    text.replace(at, token.size(), version);
    at += version.size();
  }
  return text;
}

// The environment of the build command: PATH, HOME, LANG, the caches, the site's env, then the
// build's own variables (which the site's env cannot override).
std::vector<std::string> buildEnvironment(const BuildPlan& plan, const Workspace& workspace,
                                          const CommitInfo& commit, const std::string& version) {
  std::map<std::string, std::string> env;
  if (plan.site.sandbox) {
    env["PATH"] = kSandboxPath;
    env["HOME"] = kSandboxHome.string();
    env["LANG"] = "C.UTF-8";
    if (!plan.cache.empty()) addCacheVariables(env, kSandboxCache);
  } else {
    for (const auto& e : cleanEnvironment(workspace.home())) {
      auto eq = e.find('=');
      env[e.substr(0, eq)] = e.substr(eq + 1);
    }
    if (!plan.cache.empty()) addCacheVariables(env, plan.cache);
  }
  for (const auto& [k, v] : plan.site.env) env[k] = v;
  env["CI"] = "true";
  env["CUTOVER"] = "1";
  env["CUTOVER_SITE"] = plan.site.name;
  env["CUTOVER_COMMIT"] = commit.sha;
  env["CUTOVER_BRANCH"] = !plan.branch.empty()   ? plan.branch
                          : isCommitId(plan.ref) ? plan.site.branch
                                                 : plan.ref;
  if (plan.pr != 0) env["CUTOVER_PR"] = std::to_string(plan.pr);
  env["CUTOVER_DEPLOY_ID"] = plan.deploy_id;
  env["CUTOVER_VERSION"] = version;
  env["CUTOVER_URL"] = plan.url;
  env["CUTOVER_PREVIEW_URL"] = substituteVersion(plan.preview_url, version);
  env["CUTOVER_CONTEXT"] = plan.production ? "production" : "preview";
  std::vector<std::string> out;
  out.reserve(env.size());
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

// The limits of every build, sandboxed or not; and for a root pipeline's sandbox, the build user
// and the folders staged for it.
Confinement confinement(const BuildPlan& plan, const Workspace& workspace) {
  Confinement c;
  c.memory = plan.site.build_memory;
  c.processes = plan.site.build_processes;
  c.file_size = plan.site.build_file_limit;
  if (plan.site.sandbox && runsAsRoot()) {
    c.user = std::make_pair(kBuildUid, static_cast<gid_t>(kBuildUid));
    c.stage = stageFolder();
    c.binds.emplace_back(workspace.root(), "ws");
    if (!plan.cache.empty()) c.binds.emplace_back(plan.cache, "cache");
  }
  return c;
}

// Runs `command` once with `true` for the build command, to tell a sandbox that cannot start
// from a build that fails.
Result<void> probeSandbox(const BuildPlan& plan, Command command) {
  command.argv.back() = "true";
  command.timeout = std::chrono::seconds(30);
  std::string said;
  auto ran = runCommand(command, [&](Stream, std::string_view line) {
    if (said.size() < 2000) said += (said.empty() ? "" : "; ") + std::string(line);
  });
  if (ran && ran->ok()) return {};
  return fail(Errc::unavailable,
              fmt::format("the build of site {} cannot start in its sandbox ({}). Builds run "
                          "under bubblewrap, which needs user namespaces (sysctl "
                          "kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0; "
                          "on Ubuntu also kernel.apparmor_restrict_unprivileged_userns=0). To "
                          "run this site's builds unconfined instead, with access to everything "
                          "the server can read, set sandbox = false under [sites.{}]",
                          plan.site.name,
                          said.empty() ? "bwrap " + (ran ? ran->describe(command.timeout)
                                                         : ran.error().message)
                                       : said,
                          plan.site.name));
}

}  // namespace

Result<void> clearBuildCache(const std::filesystem::path& data_dir, const std::string& site) {
  if (auto ok = validateSiteName(site); !ok) return tl::unexpected(ok.error());
  auto dir = buildCacheFolder(data_dir, site);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) return fail(Errc::io, fmt::format("cannot remove {}: {}", dir.string(), ec.message()));
  return {};
}

std::filesystem::path buildCacheFolder(const std::filesystem::path& data_dir,
                                       const std::string& site) {
  return data_dir / "build-cache" / site;
}

Workspace::~Workspace() {
  std::error_code ec;
  std::filesystem::remove_all(root_, ec);
}

std::vector<std::string> buildArgv(const BuildPlan& plan, const Workspace& workspace,
                                   const std::vector<std::string>& env) {
  std::vector<std::string> shell{"/bin/sh", "-c", plan.site.build};
  if (!plan.site.sandbox) return shell;
  auto seen = sandboxPaths(plan, workspace);
  // A new user (an unprivileged uid), pid, ipc and uts namespace, a new session, gone with its
  // parent; the network only if the site allows it.
  std::vector<std::string> argv{"bwrap",
                                "--unshare-user",
                                "--uid",
                                std::to_string(kBuildUid),
                                "--gid",
                                std::to_string(kBuildUid),
                                "--unshare-pid",
                                "--unshare-ipc",
                                "--unshare-uts",
                                "--unshare-cgroup-try",
                                "--hostname",
                                "build",
                                "--die-with-parent",
                                "--new-session"};
  if (!plan.site.network) argv.emplace_back("--unshare-net");
  // A read-only minimal system: /usr and the /bin, /lib... links or folders beside it.
  argv.insert(argv.end(), {"--ro-bind", "/usr", "/usr"});
  for (const char* dir : {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"}) {
    std::error_code ec;
    auto status = std::filesystem::symlink_status(dir, ec);
    if (ec) continue;
    if (std::filesystem::is_symlink(status)) {
      auto target = std::filesystem::read_symlink(dir, ec);
      if (!ec) argv.insert(argv.end(), {"--symlink", target.string(), dir});
    } else if (std::filesystem::is_directory(status)) {
      argv.insert(argv.end(), {"--ro-bind", dir, dir});
    }
  }
  for (const char* file : kEtcFromHost) argv.insert(argv.end(), {"--ro-bind-try", file, file});
  for (const char* file : {"passwd", "group", "nsswitch.conf"}) {
    argv.insert(argv.end(), {"--ro-bind", (seen.workspace / "etc" / file).string(),
                             std::string("/etc/") + file});
  }
  argv.insert(argv.end(), {"--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"});
  // Writable: the checkout, HOME and the site's cache; nothing else of the host is there.
  argv.insert(argv.end(), {"--bind", (seen.workspace / "src").string(), kSandboxSource.string(),
                           "--bind", (seen.workspace / "home").string(), kSandboxHome.string()});
  if (!seen.cache.empty()) {
    argv.insert(argv.end(), {"--bind", seen.cache.string(), kSandboxCache.string()});
  }
  // Inside, only these variables, whatever bwrap itself was given.
  argv.insert(argv.end(), {"--chdir", kSandboxSource.string(), "--clearenv"});
  for (const auto& e : env) {
    auto eq = e.find('=');
    argv.insert(argv.end(), {"--setenv", e.substr(0, eq), e.substr(eq + 1)});
  }
  argv.insert(argv.end(), shell.begin(), shell.end());
  return argv;
}

Result<BuildResult> buildSite(const BuildPlan& plan, const Workspace& workspace, BuildLog& log,
                              const StageCallback& stage, std::stop_token stop,
                              const CommitCallback& checked_out) {
  std::error_code ec;
  std::filesystem::create_directories(workspace.home(), ec);
  if (ec) return fail(Errc::io, "cannot create " + workspace.home().string() + ": " + ec.message());
  log.setLimit(plan.site.build_log_limit);

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
  if (checked_out) checked_out(*commit);
  std::string version =
      plan.version.empty() ? newVersionId(commit->sha.substr(0, 7)) : plan.version;

  if (stage) stage("building");
  if (!plan.cache.empty()) {
    std::filesystem::create_directories(plan.cache, ec);
    if (ec) return fail(Errc::io, "cannot create " + plan.cache.string() + ": " + ec.message());
  }
  auto env = buildEnvironment(plan, workspace, *commit, version);
  Command command;
  command.argv = buildArgv(plan, workspace, env);
  command.cwd = workspace.source();
  command.env = env;
  command.timeout = plan.site.build_timeout;
  command.confinement = confinement(plan, workspace);
  if (plan.site.sandbox) {
    if (!bwrapInstalled(cleanEnvironment(workspace.home()))) {
      return fail(Errc::unavailable,
                  fmt::format("the build of site {} runs in a sandbox, but bubblewrap (bwrap) is "
                              "not installed: install it (apt install bubblewrap), or set "
                              "sandbox = false under [sites.{}] to run it unconfined",
                              plan.site.name, plan.site.name));
    }
    if (command.confinement.user && command.confinement.stage.empty()) {
      return fail(Errc::unavailable, "no folder to stage the build in (/mnt, /media, /srv, /opt)");
    }
    if (auto made = writeSandboxEtc(workspace.root() / "etc"); !made) {
      return tl::unexpected(made.error());
    }
    if (command.confinement.user) {
      for (const auto& dir : {workspace.source(), workspace.home(), plan.cache}) {
        struct stat st {};
        // A cache handed over before stays the build user's; only the fresh checkout is walked.
        if (dir.empty() ||
            (dir == plan.cache && ::stat(dir.c_str(), &st) == 0 && st.st_uid == kBuildUid)) {
          continue;
        }
        if (auto given = handOver(dir); !given) return tl::unexpected(given.error());
      }
    }
    // bwrap itself runs with a clean environment; the build's is set inside (--setenv).
    command.env = cleanEnvironment(workspace.home());
    command.cwd = "/";
    if (auto probed = probeSandbox(plan, command); !probed) {
      log.note(probed.error().message);
      return tl::unexpected(probed.error());
    }
  }
  log.note(fmt::format("running {}{}", plan.site.build,
                       plan.site.sandbox ? " (sandboxed)" : " (unconfined: sandbox = false)"));
  auto ran = runCommand(
      command, [&](Stream s, std::string_view line) { log.output(s == Stream::err, line); }, stop);
  if (!ran) return tl::unexpected(ran.error());
  log.note(fmt::format("build command {} after {:.2f} s", ran->describe(command.timeout),
                       ran->ms / 1000.0));
  if (!ran->ok()) {
    auto summary = log.summary();
    return fail(
        ran->cancelled ? Errc::interrupted : Errc::invalid_argument,
        fmt::format(
            "build command {}{}{}\nthe whole output: {}", ran->describe(command.timeout),
            summary.empty() ? "" : "; its output:\n", summary,
            plan.deploy_id.empty() ? log.file().string() : "cutover logs " + plan.deploy_id));
  }
  auto output = checkOutput(plan, workspace);
  if (!output) {
    log.note(output.error().message);
    return tl::unexpected(output.error());
  }
  return BuildResult{*commit, *output, ran->ms, version};
}

}  // namespace cutover::build
