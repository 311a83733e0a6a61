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
  const deviceId = await (async () => {
    await page.getByRole('tab', { name: /Accepted/ }).click();
    return String(await page.locator('tr[data-device]').first().getAttribute('data-device'));
  })();
  const nav = (name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name });

  const pages: [string, () => Promise<void>][] = [
    [
      `Devices, accepted tab (${DEVICES} devices)`,
      async () => {
        await nav('Devices').click();
        await page.getByRole('tab', { name: /Accepted/ }).click();
        await page.getByRole('tab', { name: new RegExp(`Accepted\\s*${DEVICES}`) }).waitFor();
        await page.locator('tr[data-device]').first().waitFor();
      },
    ],
    [
      `Devices, accepted tab with a chosen inventory column (${DEVICES} devices)`,
      async () => {
        await page.evaluate(() =>
          localStorage.setItem(
            'flotilla.device-columns',
            JSON.stringify([{ scope: 'inventory', name: 'artifact_name' }]),
          ),
        );
        await nav('Devices').click();
        await page.getByRole('tab', { name: /Accepted/ }).click();
        await page.locator('tr[data-device] [data-column="artifact_name"]').filter({ hasText: /\S/ }).first().waitFor();
        await page.evaluate(() => localStorage.removeItem('flotilla.device-columns'));
      },
    ],
    [
      'Releases',
      async () => {
        await nav('Releases').click();
        await page.getByRole('heading', { name: 'No releases yet' }).waitFor();
      },
    ],
    [
      'Deployments (group choice loaded)',
      async () => {
        await nav('Deployments').click();
        await page.locator('option', { hasText: 'Group bench-group' }).waitFor({ state: 'attached' });
        await page.getByRole('heading', { name: 'No deployments yet' }).waitFor();
      },
    ],
    [
      'Audit log',
      async () => {
        await nav('Audit log').click();
        await page.getByRole('heading', { name: 'Audit log' }).waitFor();
        await page
          .getByText('No audit entries match.')
          .or(page.getByRole('table', { name: 'Audit log' }))
          .waitFor();
      },
    ],
    [
      'Device page (identity, inventory, configuration, monitoring, terminal state, history)',
      async () => {
        // In-app navigation to one device, as its link does (the list's own load is the row above).
        await page.evaluate((id) => {
          history.pushState(null, '', `/ui/devices/${id}`);
          dispatchEvent(new PopStateEvent('popstate'));
        }, deviceId);
        await page.getByTestId('device-protocol').waitFor();
        await page.getByRole('table', { name: 'Inventory' }).waitFor();
        await page.getByText('The device is not connected').waitFor();
        await page.getByText('No deployment has reached this device yet.').waitFor();
      },
    ],
  ];
  for (const [name, show] of pages) {
    const times: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      // Start from another page, so that the measured one mounts and loads afresh.
      await nav(name.startsWith('Devices') || name.startsWith('Device page') ? 'Releases' : 'Devices').click();
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
