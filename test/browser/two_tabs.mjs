// Two tabs of one browser across a deploy, in headless Chromium against a real `cutover serve`.
//
// A real Vite + React app (./app, react-router with a lazily loaded About route) is built twice,
// as releases 1 and 2: each has its own hashed chunk names. Release 1 goes live and tab 1 opens
// it; release 2 goes live and tab 2 opens it, which moves the site's one pin cookie to release 2.
// Tab 1 then navigates client-side to About: its chunk exists only in release 1, and the page
// must still render it (the edge answers content-hashed names from a recently live version)
// instead of going blank on a 404.
import { browserTest, fail } from './harness.mjs';

await browserTest('two-tabs', async ({ buildRelease, deploy, serve, live, launch, watchedTab }) => {
  const started = Date.now();
  const [release1, release2] = await Promise.all([buildRelease(1), buildRelease(2)]);
  const built = Date.now();
  const port = await serve();
  const origin = `http://app.localhost:${port}`;
  const v1 = await deploy(release1);
  await live(port, v1);

  const context = await (await launch()).newContext();

  // Tab 1 loads release 1 and stays on its first route.
  const tab1 = await watchedTab(context);
  await tab1.goto(`${origin}/`);
  await tab1.waitForSelector('#home');

  // Release 2 goes live, and tab 2 opens the site: the pin cookie now names release 2.
  const v2 = await deploy(release2);
  await live(port, v2);
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
        `  ${response.status()} ${response.url()}\n  failed: ${tab1.failed.join(', ') || 'none'}\n` +
        `  errors: ${tab1.errors.join(' | ') || 'none'}\n  page text: ${JSON.stringify(text)}`,
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
  if (tab1.failed.length) fail(`tab 1 had failed requests: ${tab1.failed.join(', ')}`);

  // Tab 2 runs release 2 throughout.
  await tab2.click('#to-about');
  await tab2.waitForSelector('#about');
  const about2 = await tab2.textContent('#about');
  if (about2 !== 'About, release 2') fail(`tab 2 shows "${about2}", not release 2's About`);
  console.log(`ok: tab 1 (${v1}) rendered its lazy route under the pin of tab 2 (${v2})`);
  console.log(`(vite builds or cached builds ${built - started} ms, the rest ${Date.now() - built} ms)`);
});
