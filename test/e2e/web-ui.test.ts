// End to end through the operator web UI in a real browser: Playwright (playwright-core) drives Debian's chromium
// against a real `flotilla serve` and two real mender-client 3.4 daemons. The operator logs in, accepts the clients
// that arrive pending and puts them in a group, uploads artifacts made by the real mender-artifact, deploys one to
// the group and watches it reach success without reloading the page; deploys a failing one in two phases with a
// failure threshold, sees the rollout pause, reads a device's log, resumes it; then logs out. Every page renders
// without console errors. Screenshots go to a temporary folder (printed; not kept in git). SQLite only: the UI
// adds no store code, and the management API under it is tested on both dialects.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { INVENTORY_ATTRIBUTE, type MenderFleet, requireMender, startMenderClients } from '../support/mender-client.js';
import { type FlotillaServer, startFlotilla } from './flotilla-server.js';

const CHROMIUM = '/usr/bin/chromium';
const RELEASE = 'web-e2e-hello-1';
const FAILING = 'web-e2e-broken-2';
const CLIENTS = 2;
const GROUP = 'web-e2e';
/** How long the UI may take to show what the server and the client did (a device's poll is 3 s). */
const WAIT = { timeout: 90_000 };

describe('the operator web UI in chromium against flotilla serve and a real mender-client', () => {
  let server: FlotillaServer | undefined;
  let fleet: MenderFleet | undefined;
  let context: BrowserContext | undefined;
  let page: Page;
  let work = '';
  let failed = false;
  const shots = mkdtempSync(join(tmpdir(), 'flotilla-web-screenshots-'));
  const problems: string[] = [];

  const step = (name: string, body: () => Promise<void>) =>
    it(name, async () => {
      assert.ok(!failed, 'an earlier step failed');
      try {
        await body();
        // Lighthouse-style basics: whatever the step showed rendered without console errors.
        assert.deepEqual(problems, [], 'console errors or page errors');
      } catch (error) {
        failed = true;
        process.stderr.write(`\n=== web UI: "${name}" failed ===\n`);
        if (page) await page.screenshot({ path: join(shots, 'failure.png'), fullPage: true }).catch(() => {});
        if (server) process.stderr.write(`--- flotilla log ---\n${server.logTail()}\n`);
        if (fleet) process.stderr.write(`${fleet.logTails()}\n`);
        throw error;
      }
    });

  /**
   * An artifact made by the real mender-artifact for Debian's `script` update module, which runs the payload at
   * ArtifactInstall. The script sees the daemon's environment, so each client writes a folder of its own (two
   * clients installing one single-file payload to one path race each other).
   */
  function makeArtifact(name: string, script: string): string {
    const payload = join(work, `${name}.sh`);
    writeFileSync(payload, `#!/bin/sh\nset -e\n${script}\n`);
    const file = join(work, `${name}.mender`);
    const made = spawnSync(
      'mender-artifact',
      ['write', 'module-image', '-T', 'script', '-n', name, '-t', fleet!.deviceType, '-f', payload, '-o', file],
      { encoding: 'utf8' },
    );
    assert.equal(made.status, 0, `mender-artifact: ${made.stderr}`);
    return file;
  }

  /** A link of the main navigation. */
  const nav = (name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name });
  const shot = (name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

  before(async () => {
    requireMender();
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
    // The same step `npm install` runs: builds web/dist unless it is up to date.
    const build = spawnSync(process.execPath, [resolve(import.meta.dirname, '../../scripts/build-web.mjs')], {
      encoding: 'utf8',
    });
    assert.equal(build.status, 0, `build-web: ${build.stderr}`);
    work = mkdtempSync(join(tmpdir(), 'flotilla-web-e2e-'));
    server = await startFlotilla('sqlite');
    context = await chromium.launchPersistentContext(join(work, 'chromium-profile'), {
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
      viewport: { width: 1280, height: 800 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    process.stderr.write(`web UI screenshots: ${shots}\n`);
  });

  after(async () => {
    await context?.close();
    await fleet?.stop();
    await server?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  step('/ leads to the login page, and the operator logs in', async () => {
    await page.goto(`${server!.url}/`);
    assert.equal(new URL(page.url()).pathname, '/ui/', 'the root redirects to the UI');
    await page.getByLabel('Email').fill(server!.adminEmail);
    await page.getByLabel('Password').fill('wrong-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').waitFor(WAIT);
    // The refused login's 401 is the browser's own console line for a failed fetch: expected here, not a fault.
    problems.splice(0, problems.length, ...problems.filter((p) => !p.includes('401')));
    await shot('login-refused');
    await page.getByLabel('Password').fill(server!.adminPassword);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Devices', exact: true }).waitFor(WAIT);
    assert.equal(new URL(page.url()).pathname, '/ui/devices');
  });

  step('an empty fleet tells the newcomer where to point a mender-client', async () => {
    await page.getByRole('heading', { name: 'No devices yet' }).waitFor(WAIT);
    // The token comes from its own request: wait for it rather than read the placeholder.
    await page.getByTestId('tenant-token').filter({ hasText: server!.tenantToken }).waitFor(WAIT);
    assert.match(String(await page.locator('.empty').textContent()), new RegExp(server!.url));
    await shot('devices-empty');
  });

  step('the mender-clients appear as pending without a reload and are accepted in the UI', async () => {
    // Started only now, pointed at the server URL and tenant token the empty state showed.
    fleet = await startMenderClients({ serverUrl: server!.url, tenantToken: server!.tenantToken, count: CLIENTS });
    for (const [i, client] of fleet!.clients.entries()) {
      const row = page.locator('tr', { hasText: `mac=${client.mac}` });
      await row.waitFor(WAIT);
      if (i === 0) await shot('devices-pending');
      await row.getByRole('button', { name: 'Accept' }).click();
      await page.getByRole('tab', { name: new RegExp(`Accepted\\s*${i + 1}`) }).waitFor(WAIT);
    }
    await page.getByRole('tab', { name: /Accepted/ }).click();
    for (const client of fleet!.clients) {
      const accepted = page.locator('tr', { hasText: `mac=${client.mac}` });
      await accepted.waitFor(WAIT);
      await accepted.getByPlaceholder('group').fill(GROUP);
      await accepted.getByRole('button', { name: 'Set group' }).click();
      await page
        .getByRole('status')
        .filter({ hasText: `group ${GROUP}` })
        .waitFor(WAIT);
    }
    await page.getByRole('tab', { name: /Pending\s*0/ }).waitFor(WAIT);
    await shot('devices-accepted');
  });

  step('an artifact made by mender-artifact is uploaded through the UI', async () => {
    const installed = join(work, 'installed');
    const file = makeArtifact(
      RELEASE,
      `mkdir -p "${installed}/$FLOTILLA_E2E_CLIENT"\necho hello > "${installed}/$FLOTILLA_E2E_CLIENT/hello.txt"`,
    );
    await nav('Releases').click();
    await page.getByRole('heading', { name: 'No releases yet' }).waitFor(WAIT);
    await page.getByLabel('Artifact file (.mender)').setInputFiles(file);
    await page.getByRole('button', { name: 'Upload' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Uploaded ${RELEASE}.mender` })
      .waitFor(WAIT);
    const row = page.locator(`tr[data-release="${RELEASE}"]`);
    await row.waitFor(WAIT);
    assert.match(String(await row.textContent()), new RegExp(fleet!.deviceType));
    assert.match(String(await row.textContent()), /script/);
    await shot('releases');
  });

  step('a deployment to the group is created and reaches success without a reload', async () => {
    let navigations = 0;
    await nav('Deployments').click();
    await page.getByRole('heading', { name: 'New deployment' }).waitFor(WAIT);
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) navigations++;
    });
    await page.getByLabel('Release', { exact: true }).selectOption(RELEASE);
    await page.getByLabel('Devices', { exact: true }).selectOption(GROUP);
    await page.getByLabel('Name', { exact: true }).fill('web rollout');
    await page.getByRole('button', { name: 'Create deployment' }).click();
    await page.getByRole('status').filter({ hasText: 'web rollout created' }).waitFor(WAIT);
    const row = page.locator('tr', { hasText: 'web rollout' });
    await row.waitFor(WAIT);
    assert.match(String(await row.textContent()), new RegExp(`group ${GROUP}`));
    await shot('deployment-created');
    // The page polls: the status cell moves on by itself while the client downloads and installs.
    const seen = new Set<string>();
    const status = row.getByTestId('deployment-status');
    seen.add(String(await status.textContent()));
    await page.waitForFunction(
      () => {
        const cell = [...document.querySelectorAll('tr')].find((r) => r.textContent?.includes('web rollout'));
        return cell?.querySelector('[data-testid="deployment-status"]')?.textContent === 'finished';
      },
      undefined,
      { ...WAIT, polling: 100 },
    );
    seen.add(String(await status.textContent()));
    assert.ok(seen.size >= 2, `the status changed on the page (${[...seen].join(' → ')})`);
    assert.equal(String(await row.locator('[data-stat="success"]').textContent()), `success: ${CLIENTS}`);
    assert.equal(navigations, 0, 'no reload or navigation while watching');
    for (const client of fleet!.clients) {
      assert.ok(existsSync(join(work, 'installed', client.label, 'hello.txt')), `${client.label} ran the payload`);
    }
    await shot('deployment-finished');
  });

  step(
    'a failing release in two phases pauses at its threshold; the log is readable; the rollout resumes',
    async () => {
      // No folder can be made below a plain file: installing fails on every device.
      writeFileSync(join(work, 'blocker'), 'not a folder');
      const file = makeArtifact(FAILING, `mkdir -p "${join(work, 'blocker', 'sub')}"`);
      await nav('Releases').click();
      await page.getByLabel('Artifact file (.mender)').setInputFiles(file);
      await page.getByRole('button', { name: 'Upload' }).click();
      await page.locator(`tr[data-release="${FAILING}"]`).waitFor(WAIT);

      await nav('Deployments').click();
      await page.getByLabel('Release', { exact: true }).selectOption(FAILING);
      await page.getByLabel('Devices', { exact: true }).selectOption(GROUP);
      await page.getByLabel('Name', { exact: true }).fill('phased rollout');
      await page.getByLabel('First phase (% of devices)').fill('50');
      // The second phase starts a little later; the first one's failure pauses the rollout before or after that.
      const start = new Date(Date.now() + 20_000);
      const local = new Date(start.getTime() - start.getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
      await page.getByLabel('Second phase starts').fill(local);
      await page.getByLabel('Pause when failures exceed (% of a phase)').fill('1');
      await page.getByRole('button', { name: 'Create deployment' }).click();
      await page.getByRole('status').filter({ hasText: 'phased rollout created' }).waitFor(WAIT);
      await page.getByRole('link', { name: 'phased rollout' }).click();
      await page.getByRole('heading', { name: 'Deployment phased rollout' }).waitFor(WAIT);
      assert.equal(await page.getByRole('table', { name: 'Phases' }).locator('tbody tr').count(), 2);

      await page.getByTestId('deployment-status').filter({ hasText: '(paused)' }).waitFor(WAIT);
      await shot('deployment-paused');
      const failed = page.locator('tr', { has: page.getByTestId('device-status').filter({ hasText: 'failure' }) });
      await failed.first().getByRole('button', { name: 'View log' }).click();
      const log = page.getByRole('region', { name: /Deployment log of/ }).locator('pre');
      await log.waitFor(WAIT);
      const text = String(await log.textContent());
      // The real client's own log lines: the update module's error and the state it failed in.
      assert.match(text, /Not a directory/);
      assert.match(text, /ArtifactInstall/);
      await shot('device-log');

      await page.getByRole('button', { name: 'Resume rollout' }).click();
      await page.getByRole('status').filter({ hasText: 'Rollout resumed.' }).waitFor(WAIT);
      await page
        .locator('[data-stat="failure"]')
        .filter({ hasText: `failure: ${CLIENTS}` })
        .waitFor(WAIT);
      await page
        .getByTestId('deployment-status')
        .filter({ hasText: /^finished$/ })
        .waitFor(WAIT);
      await shot('deployment-resumed-finished');
    },
  );

  step(
    'an inventory filter finds a device; its page shows its identity, inventory, installed software and history with logs',
    async () => {
      const client = fleet!.clients[0];
      await nav('Devices').click();
      await page.getByRole('tab', { name: /Accepted/ }).click();
      // The inventory filter: the search API's operators over what the clients reported.
      await page.getByLabel('Attribute', { exact: true }).selectOption(`inventory:${INVENTORY_ATTRIBUTE}`);
      await page.getByLabel('Operator', { exact: true }).selectOption('$in');
      await page.getByLabel('Value', { exact: true }).fill('client-1, client-2');
      await page.getByRole('button', { name: 'Search' }).click();
      const matches = page.getByRole('table', { name: 'Matching devices' });
      await matches.getByText(`${CLIENTS} matching devices`).waitFor(WAIT);
      await page.getByLabel('Operator', { exact: true }).selectOption('$eq');
      await page.getByLabel('Value', { exact: true }).fill(client.label);
      await page.getByRole('button', { name: 'Search' }).click();
      await matches.getByText('1 matching device', { exact: true }).waitFor(WAIT);
      await shot('devices-filtered');
      await matches
        .locator('tr', { hasText: `mac=${client.mac}` })
        .getByRole('link')
        .click();
      await page.getByRole('heading', { name: /^Device / }).waitFor(WAIT);
      await page.locator('.facts dd', { hasText: client.mac }).waitFor(WAIT);
      const inventory = page.getByRole('table', { name: 'Inventory' });
      await inventory.locator('tr', { hasText: INVENTORY_ATTRIBUTE }).filter({ hasText: client.label }).waitFor(WAIT);
      // What the client reports installed: the script module cannot roll back, so after the failed release the
      // client marks its artifact name inconsistent (Mender's own convention).
      await page.locator('.facts dd', { hasText: `${FAILING}_INCONSISTENT` }).waitFor(WAIT);
      const history = page.getByRole('table', { name: 'Deployment history' });
      await history.locator('tbody tr').nth(1).waitFor(WAIT);
      const failed = history.locator('tr', { hasText: 'phased rollout' });
      assert.match(String(await failed.textContent()), /failure/);
      await failed.getByRole('button', { name: 'View log' }).click();
      const log = page.getByRole('region', { name: 'Deployment log of phased rollout' }).locator('pre');
      await log.waitFor(WAIT);
      assert.match(String(await log.textContent()), /Not a directory/);
      await shot('device-page');
    },
  );

  step('a device is preauthorized and another decommissioned in the UI', async () => {
    await nav('Devices').click();
    await page.getByRole('tab', { name: /Preauthorized/ }).click();
    const mac = '02:ff:00:00:00:09';
    const { publicKey } = generateKeyPairSync('ed25519');
    await page.getByLabel('Identity (JSON)').fill(JSON.stringify({ mac }));
    await page.getByLabel('Public key (PEM)').fill(publicKey.export({ type: 'spki', format: 'pem' }).toString());
    await page.getByRole('button', { name: 'Preauthorize' }).click();
    await page.getByRole('status').filter({ hasText: 'Device preauthorized.' }).waitFor(WAIT);
    await page.locator('tr', { hasText: `mac=${mac}` }).waitFor(WAIT);
    await page.getByRole('tab', { name: /Preauthorized\s*1/ }).waitFor(WAIT);
    await shot('devices-preauthorized');

    await page.getByRole('tab', { name: /Accepted/ }).click();
    const row = page.locator('tr', { hasText: `mac=${fleet!.clients[1].mac}` });
    page.once('dialog', (dialog) => dialog.accept());
    await row.getByRole('button', { name: 'Decommission' }).click();
    await page.getByRole('status').filter({ hasText: 'decommissioned' }).waitFor(WAIT);
    await page.getByRole('tab', { name: new RegExp(`Accepted\\s*${CLIENTS - 1}`) }).waitFor(WAIT);
    assert.equal(await row.count(), 0, 'the decommissioned device left the list');
  });

  step('settings: the tenant token, a new user, a personal access token that works until revoked', async () => {
    await nav('Settings').click();
    await page.getByRole('heading', { name: 'Settings', exact: true }).waitFor(WAIT);
    await page.getByTestId('settings-tenant-token').filter({ hasText: server!.tenantToken }).waitFor(WAIT);
    assert.equal(await page.getByTestId('settings-tenant-token').textContent(), server!.tenantToken);

    await page.getByLabel("New user's email").fill('operator@e2e.example.com');
    await page.getByLabel("New user's password").fill('operator-password-1');
    await page.getByRole('button', { name: 'Add user' }).click();
    await page.getByRole('table', { name: 'Users' }).getByText('operator@e2e.example.com').waitFor(WAIT);

    await page.getByLabel('Token name').fill('ci-script');
    await page.getByRole('button', { name: 'Create token' }).click();
    const pat = String(await page.getByTestId('new-token').textContent({ timeout: WAIT.timeout }));
    const call = () =>
      fetch(`${server!.url}/api/management/v2/devauth/devices/count?status=accepted`, {
        headers: { authorization: `Bearer ${pat}` },
      });
    assert.equal((await call()).status, 200, 'the token works for a script');
    const tokens = page.getByRole('table', { name: 'Personal access tokens' });
    await tokens.locator('tr', { hasText: 'ci-script' }).waitFor(WAIT);
    await shot('settings');
    await tokens.locator('tr', { hasText: 'ci-script' }).getByRole('button', { name: 'Revoke' }).click();
    await tokens.waitFor({ state: 'detached', ...WAIT });
    assert.equal((await call()).status, 401, 'a revoked token no longer works');
  });

  step('logging out returns to the login page; a dead session goes back to it too', async () => {
    const token = await page.evaluate(() => sessionStorage.getItem('flotilla.token'));
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('button', { name: 'Log in' }).waitFor(WAIT);
    const res = await fetch(`${server!.url}/api/management/v2/devauth/devices`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(res.status, 401, 'the token was revoked on logout');

    // A session whose token the server no longer takes (expired or revoked) ends on its first 401.
    await page.evaluate((t) => sessionStorage.setItem('flotilla.token', t ?? ''), token);
    await page.goto(`${server!.url}/ui/deployments`);
    await page.getByText('Your session has ended. Log in again.').waitFor(WAIT);
    problems.splice(0, problems.length, ...problems.filter((p) => !p.includes('401')));
    await shot('session-ended');
  });
});
