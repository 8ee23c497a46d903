// Opens the test page in Debian's headless Chromium (playwright-core, no browser download), runs the
// cases in it and prints the page's report as JSON on stdout. Browser console lines go to stderr.
// Usage: node run_page.mjs <page url> <cases.json> [chromium path]
import { chromium } from 'playwright-core';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [pageUrl, casesFile, executablePath = '/usr/bin/chromium'] = process.argv.slice(2);
const cases = JSON.parse(readFileSync(casesFile, 'utf8'));
const profile = mkdtempSync(join(tmpdir(), 'prebid-chromium-'));

// Chromium started as the machine's notes say: headless, no sandbox (root), and no background
// networking (the machine's network is closed), with a fresh profile.
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await context.newPage();
  page.on('console', (msg) => process.stderr.write(`[browser ${msg.type()}] ${msg.text()}\n`));
  page.on('pageerror', (err) => process.stderr.write(`[browser error] ${err.message}\n`));
  const requests = [];
  page.on('request', (req) => requests.push({ method: req.method(), url: req.url() }));
  await page.goto(pageUrl, { waitUntil: 'load' });
  await page.waitForFunction(() => window.pageReady === true, null, { timeout: 10000 });
  const report = await page.evaluate((c) => window.runCases(c), cases);
  report.requests = requests;
  process.stdout.write(JSON.stringify(report));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
