// What every page driver shares: Debian's headless Chromium launched the same way, one page
// whose uncaught errors fail the run, and the one JSON line of findings the Rust test reads
// (`{"ok": ..., ...findings}`; the exit code says the same).
import { chromium } from 'playwright-core';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

/// The environment variable `name`, which the Rust test that runs the driver must set.
export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

/// Fails the run with `what` unless `ok`.
export function expect(ok, what) {
  if (!ok) throw new Error(`expectation failed: ${what}`);
}

/// A reader of video `video` as `token` sees it (the video JSON), for the video page drivers.
export function videoReader(base, video, token) {
  return async () => {
    const resp = await fetch(`${base}/api/v1/videos/${video}`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    return resp.json();
  };
}

/// Records every confirmation `page` asks (`asked`: their messages) and answers it: accepted
/// while `accept` is true, else dismissed (a driver flips it between clicks).
export function confirmations(page, accept = false) {
  const confirm = { asked: [], accept };
  page.on('dialog', async (d) => {
    confirm.asked.push(d.message());
    if (confirm.accept) await d.accept();
    else await d.dismiss();
  });
  return confirm;
}

/// Headless Chromium (`CHROMIUM`, else Debian's /usr/bin/chromium).
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ARGS,
  });
}

/// Runs `body({ context, page, findings })` on a fresh page of `viewport`, prints the findings
/// with `ok` (no exception and no page error), and exits 0 or 1 accordingly.
export async function drive(viewport, body) {
  const browser = await launchChromium();
  const findings = {};
  let ok = false;
  try {
    const context = await browser.newContext({ viewport });
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await body({ context, page, findings });
    findings.errors = errors;
    ok = errors.length === 0;
  } catch (e) {
    findings.error = String(e && e.stack || e);
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify({ ok, ...findings }));
  process.exit(ok ? 0 : 1);
}
