// End to end: `flotilla serve` stopped with SIGTERM in the middle of work. An upload in flight is finished and the
// process then exits 0; an upload that does not finish within the bound (FLOTILLA_SHUTDOWN_TIMEOUT) is dropped and
// the process exits 1, leaving no artifact and no temporary blob; DDI feedback sent while the server stops is either
// recorded whole or not at all. Each case restarts the server on the same data directory and looks.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { moduleArtifactBytes } from '../support/module-artifact.js';
import { callApi, type FlotillaServer, startFlotilla } from './flotilla-server.js';
import { waitFor } from './process.js';

const ARTIFACTS = '/api/management/v1/deployments/artifacts';
const DEPLOYMENTS = '/api/management/v1/deployments/deployments';
const DEVICE_TYPE = 'shutdown-board';

async function login(server: FlotillaServer): Promise<string> {
  const basic = Buffer.from(`${server.adminEmail}:${server.adminPassword}`).toString('base64');
  const res = await fetch(`${server.url}/api/management/v1/useradm/auth/login`, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}` },
  });
  assert.equal(res.status, 200);
  return res.text();
}

async function makeArtifact(name: string): Promise<Buffer> {
  return moduleArtifactBytes(name, DEVICE_TYPE, 4 * 1024 * 1024);
}

/** A multipart artifact upload sent in two halves: `rest()` sends the second; `answer` settles with the response. */
function halfUpload(server: FlotillaServer, token: string, artifact: Buffer) {
  const boundary = `shutdown${randomBytes(6).toString('hex')}`;
  const body = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="artifact"; filename="a.mender"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\n',
    ),
    artifact,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const half = Math.floor(body.length / 2);
  const req = request(`${server.url}${ARTIFACTS}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': String(body.length),
    },
  });
  const answer = new Promise<{ status: number; body: string } | { error: string }>((resolve) => {
    req.on('response', async (res) => resolve({ status: res.statusCode ?? 0, body: await text(res) }));
    req.on('error', (error) => resolve({ error: error.message }));
  });
  req.write(body.subarray(0, half));
  return { answer, rest: () => req.end(body.subarray(half)) };
}

/** Waits until the server's own metrics show an upload being received. */
async function uploadInFlight(server: FlotillaServer): Promise<void> {
  await waitFor('the upload to be in flight', async () => {
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    return /^flotilla_uploads_in_flight 1$/m.test(metrics) ? true : undefined;
  });
}

async function exitOf(server: FlotillaServer): Promise<string> {
  return waitFor('flotilla to exit', () => server.process.exited, { timeoutMs: 120_000 });
}

describe('graceful shutdown on SIGTERM', () => {
  const env = { FLOTILLA_LOG_LEVEL: 'info', FLOTILLA_SWEEP_INTERVAL: '0' };
  let artifact: Buffer;
  const servers: FlotillaServer[] = [];
  const dataDirs: string[] = [];
  let failed = false;

  before(async () => {
    artifact = await makeArtifact('shutdown-1.0');
  });
  after(async () => {
    if (failed) for (const s of servers) process.stderr.write(`--- flotilla log ---\n${s.logTail(40)}\n`);
    for (const s of servers) await s.stop();
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
  });

  /** Starts a server; a restart serves the same data directory with the same credentials. */
  const start = async (extra: Record<string, string> = {}, restartOf?: FlotillaServer) => {
    const server = await startFlotilla('sqlite', {
      env: { ...env, ...extra },
      ...(restartOf ? { dataDir: restartOf.dataDir, credentials: restartOf } : {}),
    });
    servers.push(server);
    if (!restartOf) dataDirs.push(server.dataDir);
    return server;
  };
  const step = (name: string, body: () => Promise<void>) =>
    it(name, async () => {
      try {
        await body();
      } catch (error) {
        failed = true;
        throw error;
      }
    });

  step('finishes an upload in flight, then exits 0; the artifact is stored whole', async () => {
    const server = await start({ FLOTILLA_SHUTDOWN_TIMEOUT: '120' });
    const upload = halfUpload(server, await login(server), artifact);
    await uploadInFlight(server);
    process.kill(server.process.pid, 'SIGTERM');
    await waitFor('the shutdown to begin', () => (server.logTail(20).includes('shutting down') ? true : undefined));
    upload.rest();
    const answer = await upload.answer;
    assert.ok('status' in answer, `the upload failed: ${JSON.stringify(answer)}`);
    assert.equal(answer.status, 201, answer.body);
    assert.equal(await exitOf(server), 'code 0');

    const again = await start({}, server);
    const list = await callApi(again.url, await login(again), 'GET', ARTIFACTS);
    assert.deepEqual(
      list.json.map((a: { name: string; size: number }) => [a.name, a.size]),
      [['shutdown-1.0', artifact.length]],
    );
    await again.stop();
  });

  step('drops an upload that outlasts the bound and exits 1; no artifact, no temporary blob', async () => {
    const server = await start({ FLOTILLA_SHUTDOWN_TIMEOUT: '1' });
    const upload = halfUpload(server, await login(server), artifact);
    await uploadInFlight(server);
    process.kill(server.process.pid, 'SIGTERM');
    assert.equal(await exitOf(server), 'code 1');
    assert.match(server.logTail(20), /shutdown bound reached/);
    assert.ok('error' in (await upload.answer));
    assert.ok(
      readdirSync(join(server.dataDir, 'blobs', 'tmp')).some((n) => n.endsWith('.part')),
      'the cut upload left its temporary blob',
    );

    const again = await start({}, server);
    const list = await callApi(again.url, await login(again), 'GET', ARTIFACTS);
    assert.deepEqual(list.json, []);
    assert.deepEqual(
      readdirSync(join(server.dataDir, 'blobs', 'tmp')).filter((n) => n.endsWith('.part')),
      [],
    );
    await again.stop();
  });

  step('records device feedback sent during the shutdown whole or not at all', async () => {
    const server = await start();
    const token = await login(server);
    const api = (method: string, path: string, body?: unknown) => callApi(server.url, token, method, path, body);
    const upload = halfUpload(server, token, artifact);
    upload.rest();
    assert.equal(((await upload.answer) as { status: number }).status, 201);

    const targets: { id: string; controller: string; token: string; action?: string }[] = [];
    for (let i = 0; i < 12; i++) {
      const controller = `shutdown-${i}`;
      const created = await api('POST', '/api/ddi/v1/targets', { controller_id: controller, device_type: DEVICE_TYPE });
      assert.equal(created.status, 201, JSON.stringify(created.json));
      targets.push({ id: created.json.device_id, controller, token: created.json.token });
    }
    const deployment = await api('POST', DEPLOYMENTS, {
      name: 'shutdown',
      artifact_name: 'shutdown-1.0',
      devices: targets.map((t) => t.id),
    });
    assert.equal(deployment.status, 201, JSON.stringify(deployment.json));
    const deploymentId = String(deployment.headers.get('location')).split('/').pop();
    const ddi = (t: (typeof targets)[0], path: string, init: RequestInit = {}) =>
      fetch(`${server.url}/DEFAULT/controller/v1/${t.controller}${path}`, {
        ...init,
        headers: { authorization: `TargetToken ${t.token}`, 'content-type': 'application/json' },
      });
    for (const t of targets) {
      const poll = await (await ddi(t, '')).json();
      const href: string = poll._links.deploymentBase.href;
      t.action = new URL(href).pathname.split('/').pop();
    }

    // Every target reports success at once; the server is told to stop while those requests arrive.
    const reports = targets.map((t) =>
      ddi(t, `/deploymentBase/${t.action}/feedback`, {
        method: 'POST',
        body: JSON.stringify({ status: { execution: 'closed', result: { finished: 'success' }, details: ['done'] } }),
      }).then(
        (res) => res.status,
        () => 0,
      ),
    );
    setImmediate(() => process.kill(server.process.pid, 'SIGTERM'));
    const statuses = await Promise.all(reports);
    assert.equal(await exitOf(server), 'code 0');

    const again = await start({}, server);
    const devices = await callApi(again.url, await login(again), 'GET', `${DEPLOYMENTS}/${deploymentId}/devices`);
    assert.equal(devices.status, 200);
    const recorded = new Map<string, string>(devices.json.map((d: { id: string; status: string }) => [d.id, d.status]));
    targets.forEach((t, i) => {
      // Acknowledged feedback is recorded; feedback the server never took leaves the device where it was.
      if (statuses[i] === 200) assert.equal(recorded.get(t.id), 'success', `${t.controller} acknowledged`);
      else assert.notEqual(recorded.get(t.id), 'success', `${t.controller} answered ${statuses[i]}`);
    });
    await again.stop();
  });
});
