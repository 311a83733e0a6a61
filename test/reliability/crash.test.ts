// The crash harness (issue 18 point 7): a real `flotilla serve` is made to kill itself with SIGKILL at a named step
// (FLOTILLA_CRASH_AT) of an upload, `artifacts/generate`, a direct upload's PUT and completion, an artifact delete, a
// Mender status report and a Kanto feedback; it is started again on the same data and database, and the test checks
// what the crash left: no orphan blob, no work folder, storage use equal to the bytes on disk, no lost upload (the
// artifact exists, or asking again works), and the device's event applied whole or not at all.
//
// One chain of server processes per dialect: each start carries the next crash point and first checks (and retries)
// what the previous one's crash left, with requests that do not reach its own point. SQLite runs every point;
// PostgreSQL the direct upload's completion (both windows) and the Mender status report, where its transactions and
// row locks differ from SQLite's.
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { KantoDeviceSimulator } from '../../src/agent/kanto/device.js';
import type { CrashPoint } from '../../src/ops/crash.js';
import { callApi, type FlotillaServer, freePort, startFlotilla } from '../e2e/flotilla-server.js';
import { waitFor } from '../e2e/process.js';
import { compositeApp, uniqueThing } from '../kanto/support.js';
import { moduleArtifactBytes } from '../support/module-artifact.js';

const ARTIFACTS = '/api/management/v1/deployments/artifacts';
const DEPLOYMENTS = '/api/management/v1/deployments/deployments';
const KANTO = '/api/kanto/v1';
const DEVICE_TYPE = 'crash-board';
const dialects = (process.env.FLOTILLA_TEST_DIALECTS ?? 'sqlite,postgres').split(',') as ('sqlite' | 'postgres')[];

async function artifactBytes(name: string): Promise<Buffer> {
  return moduleArtifactBytes(name, DEVICE_TYPE, 256 * 1024);
}

function multipart(fields: Record<string, string>, file: { field: string; content: Buffer }) {
  const boundary = `crash${randomBytes(6).toString('hex')}`;
  const parts: Buffer[] = Object.entries(fields).map(([name, value]) =>
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`),
  );
  parts.push(
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="${file.field}"; filename="f.bin"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\n',
    ),
    file.content,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  );
  return { body: Buffer.concat(parts), type: `multipart/form-data; boundary=${boundary}` };
}

/** Files under a folder, with their sizes (the folder blob store's objects). */
function filesUnder(dir: string): { path: string; size: number }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : [{ path, size: statSync(path).size }];
  });
}

/** One server process of the chain, logged in. */
interface Node {
  server: FlotillaServer;
  token: string;
  mqttPort: number;
  api(method: string, path: string, body?: unknown): ReturnType<typeof callApi>;
  /** A request whose answer a crash may cut: the status, or 0 when the connection died. */
  send(method: string, path: string, body: Buffer, type: string): Promise<number>;
}

/** What one step carries to the next: ids made before a crash. */
interface Carried {
  [name: string]: string;
}

interface Step {
  crashAt: CrashPoint;
  /** Runs on a server with `crashAt`, and must make it die there. */
  act(node: Node, carried: Carried): Promise<void>;
  /** Runs on the next server: what the crash left, and the retry that must work. */
  check(node: Node, carried: Carried): Promise<void>;
}

const steps: Step[] = [
  {
    crashAt: 'artifact.blob-committed',
    async act(node) {
      const form = multipart({}, { field: 'artifact', content: await artifactBytes('crash-upload') });
      assert.equal(await node.send('POST', ARTIFACTS, form.body, form.type), 0);
    },
    async check(node) {
      assert.deepEqual(await names(node), [], 'no half artifact');
      const form = multipart({}, { field: 'artifact', content: await artifactBytes('crash-upload') });
      assert.equal(await node.send('POST', ARTIFACTS, form.body, form.type), 201, 'the upload can be sent again');
    },
  },
  {
    crashAt: 'generate.working',
    async act(node) {
      const form = generateForm('crash-generated');
      assert.equal(await node.send('POST', `${ARTIFACTS}/generate`, form.body, form.type), 0);
    },
    async check(node) {
      assert.ok(!(await names(node)).includes('crash-generated'));
    },
  },
  {
    crashAt: 'artifact.recorded',
    async act(node) {
      // The answer is lost, but the artifact was committed: it must be there, and its work folders gone.
      const form = generateForm('crash-generated');
      assert.equal(await node.send('POST', `${ARTIFACTS}/generate`, form.body, form.type), 0);
    },
    async check(node) {
      assert.ok((await names(node)).includes('crash-generated'), 'the generated artifact was kept');
    },
  },
  {
    crashAt: 'directupload.received',
    async act(node, carried) {
      const link = await node.api('POST', `${ARTIFACTS}/directupload`);
      assert.equal(link.status, 200, JSON.stringify(link.json));
      carried.uploadId = link.json.id;
      carried.uploadUri = link.json.uri;
      const url = new URL(link.json.uri);
      const bytes = await artifactBytes('crash-direct-put');
      assert.equal(await node.send('PUT', `${url.pathname}${url.search}`, bytes, 'application/octet-stream'), 0);
    },
    async check(node, carried) {
      const completed = await node.api('POST', `${ARTIFACTS}/directupload/${carried.uploadId}/complete`);
      assert.equal(completed.status, 404, 'no bytes arrived: a clear answer');
      const url = new URL(carried.uploadUri);
      const bytes = await artifactBytes('crash-direct-put');
      assert.equal(await node.send('PUT', `${url.pathname}${url.search}`, bytes, 'application/octet-stream'), 200);
      const again = await node.api('POST', `${ARTIFACTS}/directupload/${carried.uploadId}/complete`);
      assert.equal(again.status, 202, 'the same link takes the bytes again, and completes');
    },
  },
  {
    crashAt: 'artifact.deleted',
    async act(node, carried) {
      const form = multipart({}, { field: 'artifact', content: await artifactBytes('crash-deleted') });
      assert.equal(await node.send('POST', ARTIFACTS, form.body, form.type), 201);
      const id = (await listed(node)).find((a) => a.name === 'crash-deleted')?.id as string;
      carried.deletedId = id;
      assert.equal(await node.send('DELETE', `${ARTIFACTS}/${id}`, Buffer.alloc(0), 'text/plain'), 0);
    },
    async check(node, carried) {
      assert.equal((await node.api('GET', `${ARTIFACTS}/${carried.deletedId}`)).status, 404);
    },
  },
  {
    crashAt: 'artifact.blob-committed',
    async act(node, carried) {
      const link = await node.api('POST', `${ARTIFACTS}/directupload`);
      carried.completionId = link.json.id;
      const url = new URL(link.json.uri);
      const bytes = await artifactBytes('crash-completed');
      assert.equal(await node.send('PUT', `${url.pathname}${url.search}`, bytes, 'application/octet-stream'), 200);
      const path = `${ARTIFACTS}/directupload/${carried.completionId}/complete`;
      assert.equal(await node.send('POST', path, Buffer.from('{}'), 'application/json'), 0);
    },
    async check(node, carried) {
      assert.equal((await node.api('GET', `${ARTIFACTS}/${carried.completionId}`)).status, 404);
    },
  },
  {
    crashAt: 'artifact.recorded',
    async act(node, carried) {
      // The completion cut before is asked again (the upload kept its bytes) and dies after the artifact's commit.
      const path = `${ARTIFACTS}/directupload/${carried.completionId}/complete`;
      assert.equal(await node.send('POST', path, Buffer.from('{}'), 'application/json'), 0);
    },
    async check(node, carried) {
      const again = await node.api('POST', `${ARTIFACTS}/directupload/${carried.completionId}/complete`);
      assert.equal(again.status, 202, 'completing again answers the artifact, never 404');
      const shown = await node.api('GET', `${ARTIFACTS}/${carried.completionId}`);
      assert.equal(shown.status, 200);
      assert.equal(shown.json.name, 'crash-completed');
    },
  },
  {
    crashAt: 'mender.status-report',
    async act(node, carried) {
      const form = multipart({}, { field: 'artifact', content: await artifactBytes('crash-mender') });
      assert.equal(await node.send('POST', ARTIFACTS, form.body, form.type), 201);
      const device = await menderDevice(node);
      carried.menderDevice = device.id;
      carried.menderToken = device.token;
      const created = await node.api('POST', DEPLOYMENTS, {
        name: 'crash-mender',
        artifact_name: 'crash-mender',
        devices: [device.id],
      });
      assert.equal(created.status, 201, JSON.stringify(created.json));
      carried.menderDeployment = String(created.headers.get('location')).split('/').pop() as string;
      const next = await fetch(`${node.server.url}/api/devices/v2/deployments/device/deployments/next`, {
        method: 'POST',
        headers: { authorization: `Bearer ${device.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ device_provides: { device_type: DEVICE_TYPE, artifact_name: 'crash-old' } }),
      });
      assert.equal(next.status, 200);
      assert.equal((await next.json()).id, carried.menderDeployment);
      assert.equal(await menderReport(node, carried, 'success'), 0);
    },
    async check(node, carried) {
      const statusNow = async () => {
        const devices = await node.api('GET', `${DEPLOYMENTS}/${carried.menderDeployment}/devices`);
        return devices.json[0].status as string;
      };
      assert.equal(await statusNow(), 'pending', 'the report was not applied in part');
      const stats = await node.api('GET', `${DEPLOYMENTS}/${carried.menderDeployment}/statistics`);
      assert.equal(stats.json.success, 0);
      assert.equal(stats.json.pending, 1);
      assert.equal(await menderReport(node, carried, 'success'), 204, 'the device reports again');
      assert.equal(await statusNow(), 'success');
      const deployment = await node.api('GET', `${DEPLOYMENTS}/${carried.menderDeployment}`);
      assert.equal(deployment.json.status, 'finished');
    },
  },
  {
    crashAt: 'kanto.feedback',
    async act(node, carried) {
      const thingId = uniqueThing('crash');
      const registered = await node.api('POST', `${KANTO}/devices`, { thing_id: thingId, device_type: 'crash-kanto' });
      assert.equal(registered.status, 201, JSON.stringify(registered.json));
      const { device_id: deviceId, tenant_id: tenantId, username, password } = registered.json;
      carried.kantoDevice = deviceId;
      const sim = new KantoDeviceSimulator({
        url: `mqtt://127.0.0.1:${node.mqttPort}`,
        tenantId,
        thingId,
        topics: 'hono',
        username,
        password,
      });
      try {
        await sim.connect();
        const state = await node.api('POST', `${KANTO}/desired-states`, {
          name: 'crash-kanto',
          version: '1.0',
          device_types_compatible: ['crash-kanto'],
          desired_state: compositeApp,
        });
        assert.equal(state.status, 201, JSON.stringify(state.json));
        const created = await node.api('POST', DEPLOYMENTS, {
          name: 'crash-kanto',
          artifact_name: state.json.name,
          devices: [deviceId],
        });
        assert.equal(created.status, 201, JSON.stringify(created.json));
        carried.kantoDeployment = String(created.headers.get('location')).split('/').pop() as string;
        await waitFor('the server to die at the success feedback', () => node.server.process.exited, {
          timeoutMs: 60_000,
        });
      } finally {
        await sim.close();
      }
    },
    async check(node, carried) {
      const devices = await node.api('GET', `${DEPLOYMENTS}/${carried.kantoDeployment}/devices`);
      assert.notEqual(devices.json[0].status, 'success', 'the success was not applied in part');
      const inventory = await node.api('GET', `/api/management/v1/inventory/devices/${carried.kantoDevice}`);
      const attributes = (inventory.json?.attributes ?? []) as { name: string; value: unknown }[];
      assert.ok(
        !attributes.some((a) => a.name === 'artifact_name' && a.value === 'crash-kanto-1.0'),
        "the device's inventory did not take the new artifact without the attempt's success",
      );
      const stats = await node.api('GET', `${DEPLOYMENTS}/${carried.kantoDeployment}/statistics`);
      assert.equal(stats.json.success, 0);
    },
  },
];

function generateForm(name: string) {
  return multipart(
    { name, device_types_compatible: DEVICE_TYPE, type: 'single_file', args: '{"dest_dir":"/opt"}' },
    { field: 'file', content: randomBytes(64 * 1024) },
  );
}

async function listed(node: Node): Promise<{ id: string; name: string; size: number }[]> {
  const list = await node.api('GET', ARTIFACTS);
  assert.equal(list.status, 200);
  return list.json;
}

async function names(node: Node): Promise<string[]> {
  return (await listed(node)).map((a) => a.name).sort();
}

async function menderDevice(node: Node): Promise<{ id: string; token: string }> {
  const { privateKey } = generateKeyPairSync('ed25519');
  const pubkey = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  const identity = { mac: `02:00:00:${randomBytes(3).toString('hex').match(/../g)?.join(':')}` };
  const preauth = await node.api('POST', '/api/management/v2/devauth/devices', { identity_data: identity, pubkey });
  assert.equal(preauth.status, 201, JSON.stringify(preauth.json));
  const id = String(preauth.headers.get('location')).split('/').pop() as string;
  const body = Buffer.from(
    `${JSON.stringify({ id_data: JSON.stringify(identity), pubkey, tenant_token: node.server.tenantToken })}\n`,
  );
  const auth = await fetch(`${node.server.url}/api/devices/v1/authentication/auth_requests`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-men-signature': sign(null, body, privateKey).toString('base64') },
    body,
  });
  assert.equal(auth.status, 200);
  return { id, token: await auth.text() };
}

async function menderReport(node: Node, carried: Carried, status: string): Promise<number> {
  const path = `/api/devices/v1/deployments/device/deployments/${carried.menderDeployment}/status`;
  try {
    const res = await fetch(`${node.server.url}${path}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${carried.menderToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ status }),
    });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** What every restart checks once the reaper ran: nothing orphaned, nothing half, use equals disk. */
async function invariants(node: Node): Promise<void> {
  await waitFor('the start-up blob reconciliation', async () => {
    const metrics = await (await fetch(`${node.server.url}/metrics`)).text();
    return /^flotilla_blob_reconciliations [1-9]/m.test(metrics) ? metrics : undefined;
  });
  const metrics = await (await fetch(`${node.server.url}/metrics`)).text();
  const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
  assert.equal(gauge('flotilla_blobs_missing'), 0, 'every row has its blob');
  assert.equal(gauge('flotilla_blob_bytes'), gauge('flotilla_blob_accounted_bytes'));
  const dataDir = node.server.dataDir;
  const onDisk = filesUnder(join(dataDir, 'blobs', 'objects')).reduce((sum, f) => sum + f.size, 0);
  const usage = (await node.api('GET', '/api/management/v1/deployments/limits/storage')).json.usage;
  assert.equal(onDisk, usage, 'storage use equals the bytes on disk: no orphan blob, none uncounted');
  assert.deepEqual(
    filesUnder(join(dataDir, 'blobs', 'tmp')).map((f) => f.path),
    [],
    'no temporary blob',
  );
  assert.deepEqual(
    readdirSync(dataDir).filter((n) => n.startsWith('tmp-')),
    [],
    'no work folder',
  );
}

for (const dialect of dialects) {
  describe(`kill -9 at each crash point, then a restart on the same data (${dialect})`, () => {
    const chain = dialect === 'sqlite' ? steps : steps.slice(5, 8);
    const servers: FlotillaServer[] = [];
    let failed = false;
    after(async () => {
      if (failed) for (const s of servers.slice(-2)) process.stderr.write(`--- flotilla log ---\n${s.logTail(40)}\n`);
      // Restarts first: the first server's stop drops the database and removes the data folder.
      for (const s of [...servers].reverse()) await s.stop();
    });

    const start = async (crashAt?: CrashPoint): Promise<Node> => {
      const first = servers[0];
      const mqttPort = await freePort();
      const env: Record<string, string> = {
        FLOTILLA_BLOB_GRACE: '0',
        FLOTILLA_REAP_INTERVAL: '0',
        FLOTILLA_SWEEP_INTERVAL: '0',
        FLOTILLA_KANTO_PUSH_INTERVAL: '1',
        FLOTILLA_MQTT_PORT: String(mqttPort),
        ...(crashAt ? { FLOTILLA_CRASH_AT: crashAt } : {}),
      };
      const server = await startFlotilla(dialect, {
        env,
        ...(first
          ? { dataDir: first.dataDir, credentials: first, sharing: dialect === 'postgres' ? first : undefined }
          : {}),
      });
      servers.push(server);
      const basic = Buffer.from(`${server.adminEmail}:${server.adminPassword}`).toString('base64');
      const login = await fetch(`${server.url}/api/management/v1/useradm/auth/login`, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}` },
      });
      assert.equal(login.status, 200);
      const token = await login.text();
      return {
        server,
        token,
        mqttPort,
        api: (method, path, body) => callApi(server.url, token, method, path, body),
        async send(method, path, body, type) {
          try {
            const res = await fetch(`${server.url}${path}`, {
              method,
              headers: { authorization: `Bearer ${token}`, 'content-type': type },
              body: method === 'DELETE' ? undefined : new Uint8Array(body),
            });
            await res.arrayBuffer();
            return res.status;
          } catch {
            return 0;
          }
        },
      };
    };

    it(`${chain.length} crash points, each checked after the restart`, async () => {
      try {
        const carried: Carried = {};
        let node = await start(chain[0].crashAt);
        for (let i = 0; i < chain.length; i++) {
          await chain[i].act(node, carried);
          const exited = await waitFor(`the crash at ${chain[i].crashAt}`, () => node.server.process.exited);
          assert.equal(exited, 'signal SIGKILL', `died at ${chain[i].crashAt}`);
          node = await start(chain[i + 1]?.crashAt);
          await invariants(node);
          await chain[i].check(node, carried);
        }
        await invariants(node);
      } catch (error) {
        failed = true;
        throw error;
      }
    });
  });
}
