/**
 * Headless Chromium for the tests that render pages (test/report/browser.test.ts,
 * test/explorer/svg-render.test.ts): Debian's `chromium` (/usr/bin/chromium, installed by
 * .ci/run when absent), /usr/bin/chromium-browser, or REMAPSIM_CHROMIUM, driven by
 * playwright-core. Tests skip with a clear message only when none of them can be launched.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

const CANDIDATES = [process.env.REMAPSIM_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => p !== undefined && p !== '');

/** The first candidate that launches, or why none did (each candidate's reason). */
export async function launchChromium(): Promise<{ readonly browser: Browser | undefined; readonly why: string }> {
  const reasons: string[] = [];
  for (const exe of CANDIDATES) {
    if (!existsSync(exe)) {
      reasons.push(`${exe}: not found`);
      continue;
    }
    try {
      return { browser: await chromium.launch({ executablePath: exe, args: ['--no-sandbox', '--disable-gpu'] }), why: '' };
    } catch (e) {
      reasons.push(`${exe}: ${(e as Error).message.split('\n')[0]}`);
    }
  }
  return { browser: undefined, why: `no Chromium could be launched (${reasons.join('; ')}); install Debian's chromium package (.ci/run does)` };
}
