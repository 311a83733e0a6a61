// End to end with S3 blobs: `flotilla serve` keeps artifacts in a real radosgw (Debian's Ceph, started here), and a
// real mender-client 3.4 installs one by fetching it straight from radosgw through the presigned link the server
// handed out: no byte of the download passes through Flotilla; and, when that download is cut half-way, resumes it
// from radosgw with `Range: bytes=N-` (after mender-client 3.4's fixed one-minute wait: client/update_resumer.go and
// GetExponentialBackoffTime, smallest unit one minute) and installs the artifact intact. Skips with one line when
// radosgw is not installed. Takes about 2 minutes, most of it that wait.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { type CuttingRelay, startCuttingRelay } from '../support/cutting-relay.js';
import { type MenderFleet, requireMender, startMenderClients } from '../support/mender-client.js';
import { multipart } from '../support/multipart.js';
import { type Radosgw, radosgwBucket, radosgwMissing, startRadosgw } from '../support/radosgw.js';
import { callApi, type FlotillaServer, startFlotilla } from './flotilla-server.js';
import { AbortWait, waitFor } from './process.js';

const D1 = '/api/management/v1/deployments';
const BUCKET = 'flotilla-e2e';
// One run (blobs do not depend on the SQL dialect): on PostgreSQL, the multi-node set-up's database, when tested.
const dialect = (process.env.FLOTILLA_TEST_DIALECTS ?? 'sqlite,postgres').includes('postgres') ? 'postgres' : 'sqlite';

describe(`mender-client 3.4 installs an artifact stored in radosgw (${dialect})`, { skip: radosgwMissing() }, () => {
  let rgw: Radosgw | undefined;
  let relay: CuttingRelay | undefined;
  let s3: S3Client | undefined;
  let server: FlotillaServer | undefined;
  let fleet: MenderFleet | undefined;
  let work = '';
  let destDir = '';

  before(async () => {
    requireMender();
    rgw = await startRadosgw();
    // Everything S3 goes through a relay that can cut a download: the server's own requests and the devices' links,
    // which are signed for the relay's address and passed on unchanged.
    relay = await startCuttingRelay(rgw.endpoint);
    // The server reads credentials the way it does in production: the AWS variables (startFlotilla passes them on).
    s3 = await radosgwBucket(rgw, BUCKET);
    server = await startFlotilla(dialect, {
      // Request lines logged (info), so that the test can tell no download went through the server.
      env: {
        FLOTILLA_S3_URL: `${relay.url}/${BUCKET}/fleet`,
        FLOTILLA_S3_REGION: rgw.region,
        FLOTILLA_LOG_LEVEL: 'info',
      },
    });
    fleet = await startMenderClients({ serverUrl: server.url, tenantToken: server.tenantToken, count: 1 });
    work = mkdtempSync(join(tmpdir(), 'flotilla-e2e-s3-'));
    destDir = mkdtempSync(join(tmpdir(), 'flotilla-e2e-s3-installed-'));
  });
  after(async () => {
    await fleet?.stop();
    await server?.stop();
    s3?.destroy();
    await relay?.close();
    await rgw?.stop();
    for (const dir of [work, destDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  let token = '';
  let deviceId = '';
  const api = (method: string, path: string, body?: unknown) => callApi(server!.url, token, method, path, body);

  /** A single-file artifact `name` installing `content` as blob.bin into destDir; uploaded, its id and bytes. */
  async function uploadArtifact(name: string, content: Buffer): Promise<{ id: string; bytes: Buffer }> {
    const payload = join(work, name);
    mkdirSync(payload);
    writeFileSync(join(payload, 'blob.bin'), content);
    writeFileSync(join(payload, 'dest_dir'), destDir);
    writeFileSync(join(payload, 'filename'), 'blob.bin');
    writeFileSync(join(payload, 'permissions'), '644');
    const out = join(work, `${name}.mender`);
    const made = spawnSync(
      'mender-artifact',
      [
        ...['write', 'module-image', '-T', 'single-file', '-n', name, '-t', fleet!.deviceType],
        ...['dest_dir', 'filename', 'permissions', 'blob.bin'].flatMap((f) => ['-f', join(payload, f)]),
        ...['--compression', 'none', '-o', out],
      ],
      { encoding: 'utf8' },
    );
    assert.equal(made.status, 0, made.stderr);
    const bytes = readFileSync(out);
    const body = multipart({}, { field: 'artifact', filename: `${name}.mender`, content: bytes });
    const uploaded = await fetch(`${server!.url}${D1}/artifacts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, ...body.headers },
      body: new Uint8Array(body.payload),
    });
    assert.equal(uploaded.status, 201, await uploaded.text());
    return { id: String(uploaded.headers.get('location')).split('/').pop() ?? '', bytes };
  }

  /** Deploys `name` to the device and waits for its success (a failure ends the wait at once). */
  async function deployAndWait(name: string, timeoutMs: number): Promise<void> {
    const client = fleet!.clients[0];
    const created = await api('POST', `${D1}/deployments`, {
      name: `s3 ${name}`,
      artifact_name: name,
      devices: [deviceId],
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const deploymentId = String(created.headers.get('location')).split('/').pop();
    await waitFor(
      `the device to report success for ${name}`,
      async () => {
        if (client.exited) throw new AbortWait(`mender exited (${client.exited})`);
        client.signal('SIGUSR1');
        const stats = (await api('GET', `${D1}/deployments/${deploymentId}/statistics`)).json;
        if (stats.failure > 0) throw new AbortWait(`the device failed: ${JSON.stringify(stats)}`);
        return stats.success === 1 ? stats : undefined;
      },
      { timeoutMs, intervalMs: 1000 },
    );
  }

  it('uploads to radosgw, and the client downloads from radosgw and installs', async (t) => {
    try {
      const basic = Buffer.from(`${server!.adminEmail}:${server!.adminPassword}`).toString('base64');
      const login = await fetch(`${server!.url}/api/management/v1/useradm/auth/login`, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}` },
      });
      token = await login.text();
      assert.equal(login.status, 200);

      const [device] = await waitFor('the client to ask for admission', async () => {
        const list = (await api('GET', '/api/management/v2/devauth/devices')).json as {
          id: string;
          auth_sets: { id: string }[];
        }[];
        return list.length === 1 ? list : undefined;
      });
      deviceId = device.id;
      const accept = `/api/management/v2/devauth/devices/${device.id}/auth/${device.auth_sets[0].id}/status`;
      assert.equal((await api('PUT', accept, { status: 'accepted' })).status, 204);

      const content = randomBytes(12 * 1024 * 1024);
      const artifact = await uploadArtifact('e2e-s3-1', content);
      const listed = await s3!.send(new ListObjectsV2Command({ Bucket: BUCKET }));
      const objects = (listed.Contents ?? []).map((o) => [o.Key, o.Size]);
      assert.equal(objects.length, 1);
      assert.match(String(objects[0][0]), new RegExp(`^fleet/[0-9a-f-]+/artifacts/${artifact.id}$`));
      assert.equal(objects[0][1], artifact.bytes.length);

      await deployAndWait('e2e-s3-1', 120_000);
      assert.ok(readFileSync(join(destDir, 'blob.bin')).equals(content), 'the installed file is the payload');
      // The download went to radosgw (its access log), signed (a 200 or 206 there, which it refuses unsigned).
      const rgwLog = readFileSync(rgw!.logPath, 'utf8');
      const fetched = new RegExp(
        `"GET /${BUCKET}/fleet/[0-9a-f-]+/artifacts/${artifact.id}\\?[^"]*X-Amz-Signature=[^"]*" 20[06]`,
      );
      assert.match(rgwLog, fetched);
      const serverLog = server!.logTail(5000);
      assert.match(serverLog, /deployments\/device\/deployments\/next/, 'the server logs its requests');
      assert.doesNotMatch(serverLog, /\/api\/downloads\/v1\//, 'no download through the server');
    } catch (error) {
      if (server) t.diagnostic(`--- flotilla log ---\n${server.logTail()}`);
      if (fleet) t.diagnostic(fleet.logTails());
      throw error;
    }
  });

  it('resumes a download cut after 5 MiB with Range: bytes=N- from radosgw, and installs the artifact intact', async (t) => {
    assert.ok(deviceId, 'the first test admitted the device');
    try {
      const content = randomBytes(12 * 1024 * 1024);
      const artifact = await uploadArtifact('e2e-s3-2', content);
      const objectPath = new RegExp(`^/${BUCKET}/fleet/[0-9a-f-]+/artifacts/${artifact.id}$`);
      const cutAt = 5 * 1024 * 1024;
      relay!.cutNext(objectPath, cutAt);
      // mender-client waits one minute before it resumes.
      await deployAndWait('e2e-s3-2', 240_000);
      assert.ok(readFileSync(join(destDir, 'blob.bin')).equals(content), 'the installed file is the new payload');
      const downloads = relay!.requests.filter((r) => r.method === 'GET' && objectPath.test(r.path.split('?')[0]));
      assert.deepEqual(
        downloads.map((r) => ({ range: r.range, status: r.status, bytes: r.bytes, cut: r.cut })),
        [
          { range: undefined, status: 200, bytes: cutAt, cut: true },
          {
            range: `bytes=${cutAt}-`,
            status: 206,
            bytes: artifact.bytes.length - cutAt,
            cut: false,
          },
        ],
      );
      assert.ok(
        downloads.every((r) => r.path.includes('X-Amz-Signature=')),
        'both through the presigned link',
      );
    } catch (error) {
      if (server) t.diagnostic(`--- flotilla log ---\n${server.logTail()}`);
      if (fleet) t.diagnostic(fleet.logTails());
      throw error;
    }
  });
});
