// Two tabs of one browser across a deploy, in headless Chromium against a real `cutover serve`.
//
// A real Vite + React app (./app, react-router with a lazily loaded About route) is built twice,
// as releases 1 and 2: each has its own hashed chunk names. Release 1 goes live and tab 1 opens
// it; release 2 goes live and tab 2 opens it, which moves the site's one pin cookie to release 2.
// Tab 1 then navigates client-side to About: its chunk exists only in release 1, and the page
// must still render it (the edge answers content-hashed names from a recently live version)
// instead of going blank on a 404.
//
// Run by ctest with CUTOVER_BIN; needs `npm ci` in test/browser and Chromium (scripts/install-deps).
// Exits 77 (skipped) when either is missing, 1 if $CUTOVER_REQUIRE_SERVICES is 1.
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

const tmp = mkdtempSync(join(tmpdir(), 'cutover-two-tabs-'));
const data = join(tmp, 'data');
const cleanups = [() => rmSync(tmp, { recursive: true, force: true })];

function fail(message) {
  throw new Error(message);
}

// Resolves `done()` within `ms`, polling; rejects with `what` otherwise.
async function until(what, done, ms = 10000) {
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

async function deploy(folder) {
  const report = JSON.parse(await cutover('deploy', folder, '--site', 'app', '--json'));
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

// The version the edge serves `/` of the site from.
function liveVersion(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host: 'app.localhost' } }, (res) => {
      res.resume();
      resolve(res.headers['x-cutover-version'] ?? '');
    });
    req.on('error', () => resolve(''));
  });
}

async function main() {
  const started = Date.now();
  const [release1, release2] = await Promise.all([buildRelease(1), buildRelease(2)]);
  const built = Date.now();
  const port = await serve();
  const origin = `http://app.localhost:${port}`;
  const v1 = await deploy(release1);
  await until(`the edge to serve ${v1}`, async () => (await liveVersion(port)) === v1);

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
      `--host-resolver-rules=MAP app.localhost 127.0.0.1`,
    ],
  });
  cleanups.unshift(() => browser.close());
  const context = await browser.newContext();

  // Tab 1 loads release 1 and stays on its first route.
  const tab1 = await context.newPage();
  const failed = [];
  tab1.on('response', (r) => {
    if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
  });
  const errors = [];
  tab1.on('pageerror', (e) => errors.push(String(e)));
  await tab1.goto(`${origin}/`);
  await tab1.waitForSelector('#home');

  // Release 2 goes live, and tab 2 opens the site: the pin cookie now names release 2.
  const v2 = await deploy(release2);
  await until(`the edge to serve ${v2}`, async () => (await liveVersion(port)) === v2);
  const tab2 = await context.newPage();
  await tab2.goto(`${origin}/`);
  await tab2.waitForSelector('#home');
  const pin = (await context.cookies(origin)).find((c) => c.name === 'cutover_pin');
  if (!pin || !pin.value.startsWith(`${v2}.`)) fail(`the pin cookie does not name ${v2}: ${JSON.stringify(pin)}`);

  // Tab 1 navigates client-side to its lazy route: release 1's About chunk, under release 2's pin.
  const chunk = tab1.waitForResponse((r) => /\/assets\/About-[^/]+\.js$/.test(r.url()));
  await tab1.click('#to-about');
  const response = await chunk;
  try {
    await tab1.waitForSelector('#about', { timeout: 10000 });
  } catch {
    const text = await tab1.evaluate(() => document.body.innerText);
    fail(
      `tab 1 did not render its lazy route after the second tab moved the pin:\n` +
        `  ${response.status()} ${response.url()}\n  failed: ${failed.join(', ') || 'none'}\n` +
        `  errors: ${errors.join(' | ') || 'none'}\n  page text: ${JSON.stringify(text)}`,
    );
  }
  const about1 = await tab1.textContent('#about');
  if (about1 !== 'About, release 1') fail(`tab 1 shows "${about1}", not release 1's About`);
  if (response.headers()['x-cutover-version'] !== v1) {
    fail(`tab 1's chunk came from ${response.headers()['x-cutover-version']}, not ${v1}`);
  }
  if (!/immutable/.test(response.headers()['cache-control'] ?? '')) {
    fail(`the chunk is not cached as immutable: ${response.headers()['cache-control']}`);
  }
  if (failed.length) fail(`tab 1 had failed requests: ${failed.join(', ')}`);

  // Tab 2 runs release 2 throughout.
  await tab2.click('#to-about');
  await tab2.waitForSelector('#about');
  const about2 = await tab2.textContent('#about');
  if (about2 !== 'About, release 2') fail(`tab 2 shows "${about2}", not release 2's About`);
  console.log(`ok: tab 1 (${v1}) rendered its lazy route under the pin of tab 2 (${v2})`);
  console.log(`(vite builds or cached builds ${built - started} ms, the rest ${Date.now() - built} ms)`);
}

let code = 0;
try {
  await main();
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
