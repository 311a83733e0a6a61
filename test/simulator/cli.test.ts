// `flotilla simulate` as a person runs it: against the real `flotilla serve`, ten Mender devices enroll, take a
// deployment of a generated artifact, one of them fails, and the summary comes out as JSON.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { callApi, type FlotillaServer, startFlotilla } from '../e2e/flotilla-server.js';
import { multipart } from '../support/multipart.js';

const REPO = resolve(import.meta.dirname, '../..');

describe('flotilla simulate', () => {
  let server: FlotillaServer;
  before(async () => {
    server = await startFlotilla('sqlite');
  });
  after(() => server.stop());

  it('drives ten Mender devices through a deployment and prints the summary', async () => {
    const basic = Buffer.from(`${server.adminEmail}:${server.adminPassword}`).toString('base64');
    const token = await (
      await fetch(`${server.url}/api/management/v1/useradm/auth/login`, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}` },
      })
    ).text();
    const body = multipart(
      {
        name: 'cli-1.0',
        device_types_compatible: 'sim-mender',
        type: 'single_file',
        args: JSON.stringify({ dest_dir: '/tmp', filename: 'cli.txt' }),
      },
      { field: 'file', filename: 'cli.txt', content: Buffer.from('cli\n') },
    );
    const gen = await fetch(`${server.url}/api/management/v1/deployments/artifacts/generate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, ...body.headers },
      body: new Uint8Array(body.payload),
    });
    assert.equal(gen.status, 201);
    const args = ['bin/flotilla.js', 'simulate', '--devices', '10', '--protocol', 'mender', '--server', server.url];
    args.push('--email', server.adminEmail, '--password', server.adminPassword, '--tenant-token', server.tenantToken);
    args.push('--poll-interval', '0.2', '--failure-ratio', '0.1', '--deploy', 'cli-1.0', '--timeout', '120');
    const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => {
      out += c;
    });
    child.stderr.on('data', (c) => {
      err += c;
    });
    const code = await new Promise((done) => child.on('close', done));
    assert.equal(code, 0, err);
    const summary = JSON.parse(out);
    assert.deepEqual([summary.devices.mender, summary.updated, summary.failed], [10, 9, 1]);
    assert.equal(summary.deploymentStatus, 'finished');
    assert.match(err, /enrolled 10\/10/);
    const failed = await callApi(
      server.url,
      token,
      'GET',
      `/api/management/v1/deployments/deployments/${summary.deploymentId}/devices/list?status=failure`,
    );
    assert.equal(failed.status, 200);
    assert.equal(failed.json.length, 1);
    const log = await fetch(
      `${server.url}/api/management/v1/deployments/deployments/${summary.deploymentId}/devices/${failed.json[0].id}/log`,
      { headers: { authorization: `Bearer ${token}` } },
    );
    assert.match(await log.text(), /simulated installation failure/);
  });
});
