// An open tab across a deploy and `gc --keep 0`, in headless Chromium against a real `cutover serve`.
//
// Release 1 of the Vite + React app (./app) goes live and a tab opens it; release 2 goes live;
// `cutover gc --keep 0` runs. Release 1 was live seconds ago, so gc must keep it: the tab's
// client-side navigation to its lazy About route then loads release 1's chunk and renders it.
// Then `cutover versions delete` removes release 1 at once: the edge forgets it, the same chunk
// is a 404 (never a 5xx), and the next page load gets release 2. Both deploys open no preview link
// (--preview-expires 0), so only the pin window keeps release 1.
import { browserTest, fail, until } from './harness.mjs';

await browserTest('open-tab-gc', async ({ buildRelease, cutover, deploy, serve, get, live, launch, watchedTab }) => {
  const [release1, release2] = await Promise.all([buildRelease(1), buildRelease(2)]);
  const port = await serve();
  const origin = `http://app.localhost:${port}`;
  const v1 = await deploy(release1, '--preview-expires', '0');
  await live(port, v1);

  const tab = await watchedTab(await (await launch()).newContext());
  await tab.goto(`${origin}/`);
  await tab.waitForSelector('#home');

  const v2 = await deploy(release2, '--preview-expires', '0');
  await live(port, v2);
  const gc = await cutover('gc', '--keep', '0');
  const versions = await cutover('versions', 'app');
  if (!versions.includes(v1)) fail(`gc --keep 0 collected ${v1}, live seconds ago:\n${gc}`);

  // The tab, still on release 1, loads its lazy route.
  const chunk = tab.waitForResponse((r) => /\/assets\/About-[^/]+\.js$/.test(r.url()));
  await tab.click('#to-about');
  const response = await chunk;
  try {
    await tab.waitForSelector('#about', { timeout: 10000 });
  } catch {
    fail(
      `the open tab did not render its lazy route after gc:\n  ${response.status()} ${response.url()}\n` +
        `  failed: ${tab.failed.join(', ') || 'none'}\n  errors: ${tab.errors.join(' | ') || 'none'}`,
    );
  }
  const about = await tab.textContent('#about');
  if (about !== 'About, release 1') fail(`the tab shows "${about}", not release 1's About`);
  if (response.headers()['x-cutover-version'] !== v1) {
    fail(`the chunk came from ${response.headers()['x-cutover-version']}, not ${v1}`);
  }
  if (tab.failed.length) fail(`the tab had failed requests: ${tab.failed.join(', ')}`);

  // Deleting release 1 wins over the tab's pin: its chunk is gone (404, not 5xx) and the
  // preview host of release 1 answers 404 too.
  await cutover('versions', 'delete', 'app', v1);
  const path = new URL(response.url()).pathname;
  const fetchChunk = () =>
    tab.evaluate(async (p) => {
      const r = await fetch(p, { cache: 'no-store' });
      return { status: r.status, version: r.headers.get('x-cutover-version') ?? '' };
    }, path);
  const after = await until(`the edge to forget ${v1}`, async () => {
    const r = await fetchChunk();
    if (r.status >= 500) fail(`${path} of the deleted version answered ${r.status}`);
    return r.version !== v1 ? r : null;
  });
  if (after.status !== 404) fail(`${path} of the deleted version answered ${after.status}, not 404`);
  const preview = await get(port, '/', `${v1}--app.localhost`);
  if (preview.status !== 404) fail(`the deleted version's preview host answered ${preview.status}, not 404`);

  await tab.goto(`${origin}/`);  // the site is not in SPA mode, so not a reload of /about
  try {
    await tab.waitForSelector('#home', { timeout: 10000 });
  } catch {
    fail(`after a new page load the tab shows no page:\n  failed: ${tab.failed.join(', ') || 'none'}\n` +
      `  errors: ${tab.errors.join(' | ') || 'none'}\n  text: ${JSON.stringify(await tab.evaluate(() => document.body.innerText))}`);
  }
  const served = await tab.evaluate(async () => (await fetch('/', { cache: 'no-store' })).headers.get('x-cutover-version'));
  if (served !== v2) fail(`after a new page load the tab is served ${served}, not ${v2}`);
  const fiveXX = tab.failed.filter((f) => f.startsWith('5'));
  if (fiveXX.length) fail(`the tab saw server errors: ${fiveXX.join(', ')}`);
  console.log(`ok: gc --keep 0 kept ${v1} for the open tab; versions delete made it a 404, never a 5xx`);
});
