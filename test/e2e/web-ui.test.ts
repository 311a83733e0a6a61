// End to end through the operator web UI in a real browser: Playwright (playwright-core) drives Debian's chromium
// against a real `flotilla serve` and two real mender-client 3.4 daemons. The operator logs in, accepts the clients
// that arrive pending and puts them in a group, uploads artifacts made by the real mender-artifact, deploys one to
// the group and watches it reach success without reloading the page; deploys a failing one in two phases with a
// failure threshold, sees the rollout pause, reads a device's log, resumes it; saves an inventory filter and picks
// list columns; on a device's page sees its protocol, sets its configuration and types a command into a terminal on
// a real mender-connect; edits a release's notes and tags, reads its artifact details, generates a single-file
// artifact and a Kanto desired state; deploys to the saved filter with retries and an update control map pause it
// continues; reads the audit log, sets the DDI settings; then logs out. Every page renders without console errors.
// Screenshots go to a temporary folder (printed; not kept in git). SQLite only: the UI adds no store code, and the
// management API under it is tested on both dialects.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { INVENTORY_ATTRIBUTE, type MenderFleet, requireMender, startMenderClients } from '../support/mender-client.js';
import { MenderConnect } from '../support/mender-connect.js';
import { type FlotillaServer, startFlotilla } from './flotilla-server.js';

const CHROMIUM = '/usr/bin/chromium';
const RELEASE = 'web-e2e-hello-1';
const FAILING = 'web-e2e-broken-2';
const GENERATED = 'web-e2e-generated-3';
const FILTER = 'e2e-client-1';
const CLIENTS = 2;
const GROUP = 'web-e2e';
/** How long the UI may take to show what the server and the client did (a device's poll is 3 s). */
const WAIT = { timeout: 90_000 };

describe('the operator web UI in chromium against flotilla serve and a real mender-client', () => {
  let server: FlotillaServer | undefined;
  let fleet: MenderFleet | undefined;
  let connect: MenderConnect | undefined;
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
        if (connect) process.stderr.write(`--- mender-connect ---\n${connect.logTail(40)}\n`);
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
  const sessionToken = () => page.evaluate(() => sessionStorage.getItem('flotilla.token'));
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
    await connect?.stop();
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
    // Each with a D-Bus of its own: mender-connect reaches the server through its client's (later step).
    fleet = await startMenderClients({
      serverUrl: server!.url,
      tenantToken: server!.tenantToken,
      count: CLIENTS,
      privateBus: true,
    });
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
    await page.getByLabel('Devices', { exact: true }).selectOption({ label: `Group ${GROUP}` });
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
      await page.getByLabel('Devices', { exact: true }).selectOption({ label: `Group ${GROUP}` });
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
      // Saved as a filter (a dynamic group), and run again from the list of saved filters.
      await page.getByLabel('Save this filter as').fill(FILTER);
      await page.getByRole('button', { name: 'Save filter' }).click();
      await page
        .getByRole('status')
        .filter({ hasText: `Filter ${FILTER} saved.` })
        .waitFor(WAIT);
      await page.getByRole('button', { name: 'Clear' }).click();
      const saved = page.getByRole('table', { name: 'Saved filters' }).locator('tr', { hasText: FILTER });
      assert.match(String(await saved.textContent()), new RegExp(`inventory:${INVENTORY_ATTRIBUTE} \\$eq`));
      await saved.getByRole('button', { name: `Show devices in ${FILTER}` }).click();
      await matches.getByText(`1 device in ${FILTER}`, { exact: true }).waitFor(WAIT);
      assert.equal(await matches.locator('tbody tr', { hasText: `mac=${client.mac}` }).count(), 1);
      // A column chosen by the operator shows each device's value, and is still chosen after a reload.
      await page.getByText('Columns', { exact: true }).click();
      await page.getByLabel(`inventory: ${INVENTORY_ATTRIBUTE}`).check();
      const accepted = page.getByRole('table', { name: 'accepted devices' });
      const cell = accepted
        .locator('tr', { hasText: `mac=${client.mac}` })
        .locator(`[data-column="${INVENTORY_ATTRIBUTE}"]`);
      await cell.filter({ hasText: client.label }).waitFor(WAIT);
      await page.reload();
      await page.getByRole('tab', { name: /Accepted/ }).click();
      await cell.filter({ hasText: client.label }).waitFor(WAIT);
      await shot('devices-filtered');
      await page.getByLabel('Attribute', { exact: true }).selectOption(`inventory:${INVENTORY_ATTRIBUTE}`);
      await page.getByLabel('Value', { exact: true }).fill(client.label);
      await page.getByRole('button', { name: 'Search' }).click();
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

  step(
    "the device page shows the device's protocol, takes a configuration, and opens a terminal on the real mender-connect",
    async () => {
      const client = fleet!.clients[0];
      // mender-connect beside the first client, on that client's own bus; it reaches Flotilla through the client.
      connect = new MenderConnect(work, `unix:path=${join(client.dir, 'bus')}`, client.pid);
      connect.start();
      await page
        .getByTestId('device-protocol')
        .filter({ hasText: /^Mender$/ })
        .waitFor(WAIT);

      await page.getByRole('button', { name: 'Add key' }).click();
      await page.getByLabel('Key 1', { exact: true }).fill('timezone');
      await page.getByLabel('Value 1', { exact: true }).fill('Europe/Oslo');
      await page.getByRole('button', { name: 'Save configuration' }).click();
      await page.getByRole('status').filter({ hasText: 'Configuration saved.' }).waitFor(WAIT);
      const configured = page.getByRole('table', { name: 'Configuration' }).locator('tr', { hasText: 'timezone' });
      await configured.filter({ hasText: 'Europe/Oslo' }).waitFor(WAIT);
      await page.getByText('No alerts.', { exact: false }).waitFor(WAIT);

      // The page polls the connection state: the button appears once mender-connect's socket is up.
      await page.getByRole('button', { name: 'Connect terminal' }).click(WAIT);
      await page.getByRole('status').filter({ hasText: 'Connected.' }).waitFor(WAIT);
      await page.getByTestId('terminal').click();
      await page.keyboard.type('echo hello-$((6*7))');
      await page.keyboard.press('Enter');
      // Only the shell's answer has 42 in it: the echoed command line has the expression.
      await page.locator('.xterm-rows').filter({ hasText: 'hello-42' }).waitFor(WAIT);
      await shot('device-terminal');
      // By keyboard: Ctrl+] leaves the terminal for its Disconnect button (and a click right after a full-page
      // screenshot of xterm.js misses in headless chromium).
      await page.keyboard.press('Control+BracketRight');
      assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Disconnect');
      await page.keyboard.press('Enter');
      await page.getByRole('button', { name: 'Connect terminal' }).waitFor(WAIT);
    },
  );

  step(
    'a release gets notes and tags and shows its artifact details; a single-file artifact and a desired state are made',
    async () => {
      await nav('Releases').click();
      await page.getByRole('link', { name: RELEASE }).click();
      await page.getByRole('heading', { name: `Release ${RELEASE}` }).waitFor(WAIT);
      await page.getByLabel('Release notes').fill('Says hello.');
      await page.getByLabel('Tags (comma-separated)').fill('e2e, hello');
      await page.getByRole('button', { name: 'Save notes and tags' }).click();
      await page.getByRole('status').filter({ hasText: 'Notes and tags saved.' }).waitFor(WAIT);
      await page.reload();
      await page.getByLabel('Release notes').filter({ hasText: 'Says hello.' }).waitFor(WAIT);
      assert.equal(await page.getByLabel('Tags (comma-separated)').inputValue(), 'e2e, hello');
      // What mender-artifact wrote: the script payload, unsigned, providing its own name.
      await page
        .getByRole('table', { name: /^Payload files of / })
        .getByText(`${RELEASE}.sh`)
        .waitFor(WAIT);
      assert.equal(await page.getByTestId('artifact-signed').textContent(), 'not signed');
      assert.match(String(await page.locator('.facts').first().textContent()), new RegExp(`artifact_name: ${RELEASE}`));
      await shot('release');

      await nav('Releases').click();
      await page.getByText('Generate a single-file artifact').click();
      const payload = join(work, 'greeting.txt');
      writeFileSync(payload, 'hello from a generated artifact\n');
      await page.getByLabel('File to install').setInputFiles(payload);
      await page.getByLabel('Artifact name').fill(GENERATED);
      await page.getByLabel('Device types (comma-separated)', { exact: true }).fill(fleet!.deviceType);
      await page.getByLabel('Destination folder on the device').fill(join(work, 'generated'));
      await page.getByRole('button', { name: 'Generate artifact' }).click();
      await page
        .getByRole('status')
        .filter({ hasText: `Generated ${GENERATED}.` })
        .waitFor(WAIT);
      await page.locator(`tr[data-release="${GENERATED}"]`).filter({ hasText: 'single-file' }).waitFor(WAIT);

      await page.getByText('New Kanto desired state').click();
      await page.getByLabel('Desired state name').fill('web-e2e-containers');
      await page.getByLabel('Version', { exact: true }).fill('1.0.0');
      await page.getByLabel('Kanto device types (comma-separated)').fill('kanto-board');
      await page.getByRole('button', { name: 'Create desired state' }).click();
      await page
        .getByRole('status')
        .filter({ hasText: 'Desired state web-e2e-containers 1.0.0 created.' })
        .waitFor(WAIT);
      const row = page.locator('tr', { hasText: 'kanto-desired-state' });
      await row.waitFor(WAIT);
      await row.getByRole('link').click();
      await page.getByRole('heading', { name: 'Desired state' }).waitFor(WAIT);
      assert.match(String(await page.locator('pre.log').textContent()), /hello-world/);
      await shot('releases-generated');
    },
  );

  step(
    'a deployment to the saved filter with retries pauses before installing until the operator continues it',
    async () => {
      await nav('Deployments').click();
      await page.getByLabel('Release', { exact: true }).selectOption(GENERATED);
      await page.getByLabel('Devices', { exact: true }).selectOption({ label: `Saved filter ${FILTER}` });
      await page.getByLabel('Name', { exact: true }).fill('paused rollout');
      await page.getByLabel('Retries per device').fill('1');
      await page.getByLabel('Pause before installing').check();
      await page.getByRole('button', { name: 'Create deployment' }).click();
      await page.getByRole('status').filter({ hasText: 'paused rollout created' }).waitFor(WAIT);
      assert.match(
        String(await page.locator('tr', { hasText: 'paused rollout' }).textContent()),
        new RegExp(`filter ${FILTER}`),
      );
      await page.getByRole('link', { name: 'paused rollout' }).click();
      await page.getByRole('heading', { name: 'Deployment paused rollout' }).waitFor(WAIT);
      assert.equal(await page.locator('.facts dd', { hasText: /^1$/ }).count(), 1, 'one retry shown');
      // The client polls; the deployment reaches it, and it waits before installing.
      await page.getByTestId('device-status').filter({ hasText: 'pause_before_installing' }).waitFor(WAIT);
      await shot('deployment-control-map-pause');
      assert.ok(!existsSync(join(work, 'generated', 'greeting.txt')), 'nothing installed while paused');
      await page.getByRole('button', { name: 'Continue pause before installing' }).click();
      // A deployment to a saved filter is dynamic: it stays in progress for devices that match later (as Mender's).
      await page
        .getByTestId('device-status')
        .filter({ hasText: /^success$/ })
        .waitFor(WAIT);
      assert.equal(String(await page.locator('[data-stat="success"]').textContent()), 'success: 1');
      assert.ok(existsSync(join(work, 'generated', 'greeting.txt')), 'the single-file module installed the file');
    },
  );

  step('the audit log lists the changes; the keyboard reaches the skip link first', async () => {
    await nav('Audit log').click();
    const log = page.getByRole('table', { name: 'Audit log' });
    await log.locator('tr', { hasText: 'paused rollout' }).first().waitFor(WAIT);
    await page.getByLabel('Object type', { exact: true }).selectOption('release');
    // The release rows were on the unfiltered page too: the filter shows once the deployment's rows are gone.
    await log
      .locator('tr', { hasText: 'paused rollout' })
      .first()
      .waitFor({ ...WAIT, state: 'detached' });
    await log.locator('tr', { hasText: RELEASE }).first().waitFor(WAIT);
    // The export streams every entry with the same filter, downloaded by the browser itself.
    const [download] = await Promise.all([
      page.waitForEvent('download', WAIT),
      page.getByRole('button', { name: 'Export CSV' }).click(),
    ]);
    const csv = readFileSync(String(await download.path()), 'utf8').split('\n');
    assert.match(csv[0], /^time,action,/, csv[0]);
    assert.ok(
      csv.some((line) => line.includes(RELEASE)),
      'the release changes are exported',
    );
    assert.ok(!csv.some((line) => line.includes('paused rollout')), 'with the same filter');
    await shot('audit-log');
    await page.goto(`${server!.url}/ui/audit`);
    await page.getByRole('heading', { name: 'Audit log' }).waitFor(WAIT);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
    await page.keyboard.press('Enter');
    assert.equal(
      await page.evaluate(() => document.activeElement?.id),
      'main',
      'the skip link moves focus to the page',
    );
  });

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

  step('a hawkBit DDI target and a Kanto device show the protocol they speak', async () => {
    const create = async (path: string, body: unknown) => {
      const res = await fetch(`${server!.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await sessionToken()}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      assert.equal(res.status, 201, await res.clone().text());
      return ((await res.json()) as { device_id: string }).device_id;
    };
    const ddi = await create('/api/ddi/v1/targets', { controller_id: 'web-e2e-ddi' });
    const kanto = await create('/api/kanto/v1/devices', { thing_id: 'web.e2e:kanto-1', generate_password: true });
    for (const [id, protocol] of [
      [ddi, 'hawkBit DDI'],
      [kanto, 'Kanto'],
    ]) {
      await page.goto(`${server!.url}/ui/devices/${id}`);
      await page
        .getByTestId('device-protocol')
        .filter({ hasText: new RegExp(`^${protocol}$`) })
        .waitFor(WAIT);
    }
    await shot('device-kanto');
  });

  step('settings: the tenant token, a new user, a personal access token until revoked, DDI settings', async () => {
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

    await page.getByLabel('New gateway token (at least 8 characters)').fill('e2e-gateway-token');
    await page.getByLabel('Polling interval (seconds)').fill('30');
    await page.getByRole('button', { name: 'Save DDI settings' }).click();
    await page.getByRole('status').filter({ hasText: 'DDI settings saved.' }).waitFor(WAIT);
    await page.getByTestId('gateway-token-state').filter({ hasText: 'Gateway token: set' }).waitFor(WAIT);
    const ddi = await fetch(`${server!.url}/api/ddi/v1/settings`, {
      headers: { authorization: `Bearer ${await sessionToken()}` },
    });
    assert.equal(((await ddi.json()) as { polling_sleep: number }).polling_sleep, 30);
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
    // Every request the dead session's page had started answers 401 before the console is checked.
    await page.waitForLoadState('networkidle');
    problems.splice(0, problems.length, ...problems.filter((p) => !p.includes('401')));
    await shot('session-ended');
  });
});
