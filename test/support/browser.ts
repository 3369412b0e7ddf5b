import { expect } from 'bun:test';
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** The system's Chromium (installed by .ci/system-deps); playwright downloads nothing. */
const CHROMIUM = '/usr/bin/chromium';

/** A headless Chromium that reaches out to nothing by itself (no updates, no sync, no sandbox in CI). */
export async function launchChromium(): Promise<Browser> {
  expect(existsSync(CHROMIUM)).toBe(true);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}
