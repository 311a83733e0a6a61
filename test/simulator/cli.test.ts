// `flotilla simulate` as a person runs it, against the real `flotilla serve`: with its defaults (only the device
// count, the credentials and where the server is), twice in a row on one server, each run makes its own artifact,
// deploys it to its own devices only, ends with every device updated and exits 0, and leaves no device behind. A
// server that refuses devices (a rate limit they cannot get past before the run's deadline) makes it exit 1, with
// the refusals counted.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { progressBar } from '../../src/agent/cli.js';
import { callApi, type FlotillaServer, startFlotilla } from '../e2e/flotilla-server.js';

const REPO = resolve(import.meta.dirname, '../..');
const DEPLOYMENTS = '/api/management/v1/deployments/deployments';

async function simulate(server: FlotillaServer, extra: string[] = []) {
  const args = ['bin/flotilla.js', 'simulate', '--devices', '10', '--server', server.url];
  args.push('--email', server.adminEmail, '--password', server.adminPassword, ...extra);
  const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => {
    out += c;
  });
  child.stderr.on('data', (c) => {
    err += c;
  });
  const code = await new Promise<number | null>((done) => child.on('close', done));
  return { code, err, summary: out ? JSON.parse(out) : undefined };
}

async function login(server: FlotillaServer): Promise<string> {
  const basic = Buffer.from(`${server.adminEmail}:${server.adminPassword}`).toString('base64');
  const res = await fetch(`${server.url}/api/management/v1/useradm/auth/login`, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}` },
  });
  return res.text();
}

describe('flotilla simulate', () => {
  const servers: FlotillaServer[] = [];
  after(async () => {
    for (const server of servers) await server.stop();
  });

  it('runs twice in a row with its defaults, each run updating every one of its own devices', async () => {
    const server = await startFlotilla('sqlite');
    servers.push(server);
    const token = await login(server);
    // A device of someone else's, never admitted: a run must neither deploy to it nor wait for it.
    const stranger = await fetch(`${server.url}/api/ddi/v1/targets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ controller_id: 'not-simulated', device_type: 'sim-mender' }),
    });
    assert.equal(stranger.status, 201);

    const runs = [];
    for (const _ of [1, 2]) {
      const run = await simulate(server);
      assert.equal(run.code, 0, run.err);
      const { summary } = run;
      assert.equal(summary.ok, true);
      assert.deepEqual([summary.devices.mender, summary.refused, summary.errors], [10, 0, 0]);
      assert.deepEqual([summary.updated, summary.failed, summary.deploymentStatus], [10, 0, 'finished']);
      assert.match(summary.artifactName, /^sim-[0-9a-f]{6}$/);
      assert.match(run.err, /enrolled 10\/10/);
      runs.push(summary);
    }
    assert.notEqual(runs[0].artifactName, runs[1].artifactName);
    for (const summary of runs) {
      const devices = await callApi(server.url, token, 'GET', `${DEPLOYMENTS}/${summary.deploymentId}/devices`);
      assert.equal(devices.json.length, 10, 'the deployment went to the run’s own devices only');
    }
    // Both runs decommissioned their devices: only the stranger is left.
    const left = await callApi(server.url, token, 'GET', '/api/management/v2/devauth/devices');
    assert.deepEqual(
      left.json.map((d: { identity_data: Record<string, string> }) => d.identity_data),
      [{ controllerId: 'not-simulated' }],
    );
  });

  it('exits 1 and counts the refusals when devices cannot get in', async () => {
    // Three requests a minute on login and device auth: the run's login and the first devices' auth requests use
    // them up, and the rest are refused with 429 until long after the run's deadline.
    const server = await startFlotilla('sqlite', { env: { FLOTILLA_RATE_LIMIT: '3' } });
    servers.push(server);
    const run = await simulate(server, ['--timeout', '3']);
    assert.equal(run.code, 1, run.err);
    assert.equal(run.summary.ok, false);
    assert.ok(run.summary.refused > 0, JSON.stringify(run.summary));
    assert.ok(run.summary.rateLimited > 0);
    assert.ok(run.summary.failures['429'] > 0);
    assert.ok(run.summary.errors >= run.summary.failures['429']);
    assert.match(run.err, /not every device did what it was told/);
  });
});

describe('simulate progress bar', () => {
  it('fills with the devices that have finished', () => {
    assert.equal(progressBar({ enrolled: 10, devices: 10 }, 10), '[..........]');
    assert.equal(
      progressBar({ enrolled: 10, devices: 10, statistics: { success: 4, failure: 1 } }, 10),
      '[#####.....]',
    );
    assert.equal(progressBar({ enrolled: 0, devices: 0 }, 4), '[....]');
  });
});
