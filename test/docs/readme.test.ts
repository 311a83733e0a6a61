// The README's newcomer path, run as written: every shell block marked `<!-- docs-test -->` runs, in order, in one
// bash session in the checkout against a real `flotilla serve`. Only what a reader's machine decides is swapped: the
// server's address (the README's http://127.0.0.1:8080) and data folder (FLOTILLA_DATA / FLOTILLA_PORT, as a reader
// would set them), and the ids of the Mender device the reader "sees" pending (DEVICE_ID, AUTH_SET_ID). Each
// block's output is then checked for what the README says it shows.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { callApi, type FlotillaServer, startFlotilla } from '../e2e/flotilla-server.js';
import { waitFor } from '../e2e/process.js';
import { testDevice } from '../support/device.js';

const REPO = resolve(import.meta.dirname, '../..');
const README_URL = 'http://127.0.0.1:8080';

/** The shell blocks of the README that follow a `<!-- docs-test -->` line, in order. */
function docsTestBlocks(readme: string): string[] {
  const blocks: string[] = [];
  const pattern = /<!-- docs-test -->\n```sh\n([\s\S]*?)\n```/g;
  for (let match = pattern.exec(readme); match; match = pattern.exec(readme)) blocks.push(match[1]);
  return blocks;
}

async function bash(script: string, env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const child = spawn('bash', ['-e', '-o', 'pipefail', '-c', script], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c) => {
    out += c;
  });
  child.stderr.on('data', (c) => {
    out += c;
  });
  const code = await new Promise<number | null>((done) => child.on('close', done));
  return { code, out };
}

describe('README: set up', () => {
  it('has exactly the two set-up commands, and `npm start` serves and stops on SIGTERM', async () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const setup = readme.slice(readme.indexOf('## Set up'), readme.indexOf('\n## ', readme.indexOf('## Set up') + 1));
    const commands = [...setup.matchAll(/```sh\n([\s\S]*?)\n```/g)].map((m) => m[1]);
    assert.deepEqual(commands, ['npm install && npm start', 'npm test']);

    // `npm start` as the README's first command ends (npm install is what CI's npm ci does): it serves, and a
    // SIGTERM to npm stops the server too (npm hands it on; the script execs node so nothing is left behind).
    const dataDir = mkdtempSync(join(tmpdir(), 'flotilla-readme-'));
    const port = String(await freePort());
    const npm = spawn('npm', ['start'], {
      cwd: REPO,
      env: { ...process.env, FLOTILLA_DATA: dataDir, FLOTILLA_PORT: port, FLOTILLA_MQTT_PORT: 'off' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let log = '';
    npm.stdout.on('data', (c) => {
      log += c;
    });
    const exited = new Promise<number | null>((done) => npm.on('close', done));
    try {
      await waitFor('npm start to serve', async () => {
        const res = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined);
        return res?.status === 200 ? true : undefined;
      });
      npm.kill('SIGTERM');
      assert.equal(await exited, 0, log);
      assert.match(log, /shut down/);
      await assert.rejects(fetch(`http://127.0.0.1:${port}/health`), 'nothing answers any more');
    } finally {
      if (npm.pid) {
        try {
          process.kill(-npm.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('README: the newcomer path as written', () => {
  let server: FlotillaServer;
  before(async () => {
    server = await startFlotilla('sqlite');
  });
  after(() => server.stop());

  it('runs every marked block and each shows what the README says', async () => {
    const blocks = docsTestBlocks(readFileSync(join(REPO, 'README.md'), 'utf8'));
    assert.equal(blocks.length, 7, 'the marked blocks of the README');

    // A Mender device asks to be admitted, as the reader's device would after its mender.conf points here.
    const device = testDevice({ mac: '02:00:00:00:d0:c5' }, 'ed25519');
    const { body, signature } = device.authRequest(server.tenantToken);
    const asked = await fetch(`${server.url}/api/devices/v1/authentication/auth_requests`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-men-signature': signature },
      body: new Uint8Array(body),
    });
    assert.equal(asked.status, 401, 'pending until accepted');
    const basic = Buffer.from(`${server.adminEmail}:${server.adminPassword}`).toString('base64');
    const admin = await (
      await fetch(`${server.url}/api/management/v1/useradm/auth/login`, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}` },
      })
    ).text();
    const pending = await callApi(server.url, admin, 'GET', '/api/management/v2/devauth/devices?status=pending');
    assert.equal(pending.json.length, 1);
    const deviceId: string = pending.json[0].id;
    const authSetId: string = pending.json[0].auth_sets[0].id;

    const script = blocks
      .map((block, i) => `echo "@@ block ${i} @@"\n${block.replaceAll(README_URL, server.url)}\necho`)
      .join('\n');
    const port = new URL(server.url).port;
    const run = await bash(script, {
      FLOTILLA_DATA: server.dataDir,
      FLOTILLA_PORT: port,
      DEVICE_ID: deviceId,
      AUTH_SET_ID: authSetId,
    });
    assert.equal(run.code, 0, run.out);
    const outputs = run.out.split(/@@ block \d+ @@\n/).slice(1);
    assert.equal(outputs.length, blocks.length, run.out);
    const [setup, simulate, login, mender, ddi, kanto, release] = outputs;

    assert.match(setup, /"email":"admin@example.com"/);
    assert.match(setup, /"status":"ready"/);
    assert.match(simulate, /"ok": true/);
    assert.match(simulate, /"updated": 10/);
    assert.equal(login.trim(), '', 'the token goes into $TOKEN');
    assert.match(mender, new RegExp(`"id":"${deviceId}"`));
    assert.match(ddi, /"device_id":"[^"]+"/);
    assert.match(ddi, /"_links"/);
    assert.match(kanto, /"username":"org\.example:kanto-1@[^"]+"/);
    assert.match(kanto, /"password":"[^"]+"/);
    assert.match(release, /"name":"first"/);
    assert.match(release, /deploymentBase/, 'the device is offered the release');

    const accepted = await callApi(server.url, admin, 'GET', `/api/management/v2/devauth/devices/${deviceId}`);
    assert.equal(accepted.json.status, 'accepted');
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise((done) => server.close(done));
  return typeof address === 'object' && address ? address.port : 0;
}

describe('README: the real clients’ settings', () => {
  // The real clients cannot run from the README's text alone (root, a device's identity, keys); the end-to-end tests
  // run them. These checks keep the README's settings the ones those tests give the clients.
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');

  it('configures mender-client with keys the end-to-end harness sets', () => {
    const block = /```json\n(\{ "ServerURL"[\s\S]*?)\n```/.exec(readme);
    assert.ok(block, 'the mender.conf example');
    const harness = readFileSync(join(REPO, 'test/support/mender-client.ts'), 'utf8');
    for (const key of Object.keys(JSON.parse(block[1]))) assert.match(harness, new RegExp(`\\b${key}:`), key);
  });

  it('starts SWUpdate with the suricatta flags the end-to-end harness uses, in its order', () => {
    const command = /swupdate -u '([^']*)'/.exec(readme.replace(/\n/g, ' '));
    assert.ok(command, 'the SWUpdate command');
    const flags = [...command[1].matchAll(/(^|\s)(-[a-z])\s/g)].map((m) => m[2]);
    const harness = readFileSync(join(REPO, 'test/support/swupdate.ts'), 'utf8');
    const suricatta = harness.slice(harness.indexOf('const suricatta = ['));
    const harnessFlags = [...suricatta.slice(0, suricatta.indexOf(']')).matchAll(/`(-[a-z]) /g)].map((m) => m[1]);
    assert.deepEqual(flags, harnessFlags.slice(0, flags.length));
    assert.deepEqual(flags, ['-t', '-u', '-i', '-k']);
  });
});
