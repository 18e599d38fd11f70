// What the real-browser tests share: the cutover binary, the Vite + React app of ./app built as
// numbered releases, a `cutover serve` on a free port, headless Chromium, and clean-up.
//
// Run by ctest with CUTOVER_BIN; needs `npm ci` in test/browser and Chromium (scripts/install-deps).
// A test exits 77 (skipped) when either is missing, 1 if $CUTOVER_REQUIRE_SERVICES is 1.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const bin = process.env.CUTOVER_BIN;
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const viteBin = join(here, 'node_modules', 'vite', 'bin', 'vite.js');
const run = promisify(execFile);

export function fail(message) {
  throw new Error(message);
}

// Resolves `done()` within `ms`, polling; rejects with `what` otherwise.
export async function until(what, done, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await done();
    if (value) return value;
    if (Date.now() > deadline) fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// The app's sources and the locked packages: a build of the same inputs is the same output.
function appDigest(release) {
  const hash = createHash('sha256').update(String(release));
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else hash.update(path).update(readFileSync(path));
    }
  };
  walk(join(here, 'app'));
  hash.update(readFileSync(join(here, 'package-lock.json')));
  return hash.digest('hex').slice(0, 16);
}

// Runs `main(t)` with a fresh temp folder and data folder, then cleans up whatever it started;
// exits 0 when it returns, 1 when it throws. `t` has the helpers bound to that data folder.
export async function browserTest(name, main) {
  if (!bin) {
    console.error('CUTOVER_BIN must name the cutover binary');
    process.exit(1);
  }
  for (const [what, path] of [
    ['Chromium', chromiumPath],
    ['playwright-core and vite (npm ci in test/browser)', viteBin],
  ]) {
    if (!existsSync(path)) {
      // Like the tests of the networked stores: skipped, unless scripts/test requires them.
      const required = process.env.CUTOVER_REQUIRE_SERVICES === '1';
      console.log(`${required ? 'FAIL' : 'SKIP'}: ${what} not installed (${path}); scripts/install-deps installs it`);
      process.exit(required ? 1 : 77);
    }
  }
  const { chromium } = await import('playwright-core');
  const tmp = mkdtempSync(join(tmpdir(), `cutover-${name}-`));
  const data = join(tmp, 'data');
  const cleanups = [() => rmSync(tmp, { recursive: true, force: true })];

  // Builds release `release` of the app with Vite, or takes the build a previous run kept in
  // $CUTOVER_BROWSER_CACHE (ctest sets it to the build tree) for the same inputs.
  async function buildRelease(release) {
    const cache = process.env.CUTOVER_BROWSER_CACHE;
    const kept = cache && join(cache, `release${release}-${appDigest(release)}`);
    if (kept && existsSync(kept)) return kept;
    const out = join(tmp, `release${release}`);
    await run(process.execPath, [viteBin, 'build', '--outDir', out, '--emptyOutDir'], {
      cwd: join(here, 'app'),
      env: { ...process.env, RELEASE: String(release) },
    });
    if (!kept) return out;
    mkdirSync(cache, { recursive: true });
    const staging = `${kept}.${process.pid}`;
    cpSync(out, staging, { recursive: true });
    try {
      renameSync(staging, kept);  // another run may have kept the same build meanwhile
    } catch {
      rmSync(staging, { recursive: true, force: true });
    }
    return kept;
  }

  async function cutover(...args) {
    const { stdout } = await run(bin, ['--data-dir', data, ...args]);
    return stdout;
  }

  // Deploys `folder` as a new live version of site `app`; resolves its version id.
  async function deploy(folder, ...flags) {
    const report = JSON.parse(await cutover('deploy', folder, '--site', 'app', '--json', ...flags));
    if (!report.activated) fail(`deploy of ${folder} was not activated: ${JSON.stringify(report)}`);
    return report.version;
  }

  // `cutover serve` on a free port; resolves its port once it serves.
  function serve() {
    const server = spawn(bin, ['--data-dir', data, 'serve', '--listen', '127.0.0.1:0', '--threads', '2'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    cleanups.unshift(() => server.kill('SIGKILL'));
    let err = '';
    return new Promise((resolve, reject) => {
      server.stderr.on('data', (chunk) => {
        err += chunk;
        const m = err.match(/serving on http:\/\/[^\s:]+:(\d+)\n/);
        if (m) resolve(Number(m[1]));
      });
      server.on('exit', (code) => reject(new Error(`cutover serve exited (${code}): ${err}`)));
    });
  }

  // The status and version of a GET of `path` on `host` (default the site's own host).
  function get(port, path, host = 'app.localhost') {
    return new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
        res.resume();
        resolve({ status: res.statusCode, version: res.headers['x-cutover-version'] ?? '' });
      });
      req.on('error', () => resolve({ status: 0, version: '' }));
    });
  }

  // Waits until the edge serves `/` of the site from `version`.
  async function live(port, version) {
    await until(`the edge to serve ${version}`, async () => (await get(port, '/')).version === version);
  }

  async function launch() {
    const browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--host-resolver-rules=MAP *.localhost 127.0.0.1',
      ],
    });
    cleanups.unshift(() => browser.close());
    return browser;
  }

  // A tab that records every failed response and page error, for the failure message.
  async function watchedTab(context) {
    const tab = await context.newPage();
    tab.failed = [];
    tab.errors = [];
    tab.on('response', (r) => {
      if (r.status() >= 400) tab.failed.push(`${r.status()} ${r.url()}`);
    });
    tab.on('pageerror', (e) => tab.errors.push(String(e)));
    return tab;
  }

  let code = 0;
  try {
    await main({ buildRelease, cutover, deploy, serve, get, live, launch, watchedTab });
  } catch (e) {
    console.error(`FAIL: ${e.message}`);
    code = 1;
  } finally {
    for (const cleanup of cleanups) {
      try {
        await cleanup();
      } catch {
        // best effort: the process exits next
      }
    }
  }
  process.exit(code);
}
