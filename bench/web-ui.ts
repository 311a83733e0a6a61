// How fast the web UI's main pages show a large fleet: 10k accepted devices seeded into SQLite (bench/fleet.ts),
// a real `flotilla serve`, Debian's chromium driven by playwright-core. For each page, the time from clicking its
// link to its data on screen (median of a few rounds). A figure for BENCHMARKS.md, not a test:
// `node --import tsx bench/web-ui.ts [devices]`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { fleetEnv, seedFleet } from './fleet.js';
import { startServer } from './support.js';

const DEVICES = Number(process.argv[2] ?? 10_000);
const ROUNDS = 5;

const work = mkdtempSync(join(tmpdir(), 'flotilla-bench-web-'));
spawnSync(process.execPath, [resolve(import.meta.dirname, '../scripts/build-web.mjs')], { stdio: 'inherit' });
const fleet = await seedFleet('sqlite', join(work, 'fleet'), { devices: DEVICES, tokens: 0, groupEvery: 10 });
const server = await startServer(fleet.dataDir, fleetEnv(fleet));
const context = await chromium.launchPersistentContext(join(work, 'profile'), {
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(`${server.url}/ui/`);
  await page.getByLabel('Email').fill(fleet.adminEmail);
  await page.getByLabel('Password').fill(fleet.adminPassword);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('tab', { name: /Accepted/ }).waitFor();

  const pages: [string, () => Promise<void>][] = [
    [
      `Devices, accepted tab (${DEVICES} devices)`,
      async () => {
        await page.getByRole('link', { name: 'Devices' }).click();
        await page.getByRole('tab', { name: /Accepted/ }).click();
        await page.getByRole('tab', { name: new RegExp(`Accepted\\s*${DEVICES}`) }).waitFor();
        await page.locator('tr[data-device]').first().waitFor();
      },
    ],
    [
      'Releases',
      async () => {
        await page.getByRole('link', { name: 'Releases' }).click();
        await page.getByRole('heading', { name: 'No releases yet' }).waitFor();
      },
    ],
    [
      'Deployments (group choice loaded)',
      async () => {
        await page.getByRole('link', { name: 'Deployments' }).click();
        await page.locator('option', { hasText: 'Group bench-group' }).waitFor({ state: 'attached' });
        await page.getByRole('heading', { name: 'No deployments yet' }).waitFor();
      },
    ],
  ];
  for (const [name, show] of pages) {
    const times: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      // Start from another page, so that the measured one mounts and loads afresh.
      await page.getByRole('link', { name: name.startsWith('Devices') ? 'Releases' : 'Devices' }).click();
      await page.waitForLoadState('networkidle');
      const start = performance.now();
      await show();
      times.push(performance.now() - start);
    }
    times.sort((a, b) => a - b);
    console.log(`${name}: median ${Math.round(times[ROUNDS >> 1])} ms, worst ${Math.round(times[ROUNDS - 1])} ms`);
  }
} finally {
  await context.close();
  await server.stop();
  await fleet.drop();
  rmSync(work, { recursive: true, force: true });
}
