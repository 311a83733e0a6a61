// End to end with S3 blobs: `flotilla serve` keeps artifacts in a real radosgw (Debian's Ceph, started here), and a
// real mender-client 3.4 installs one by fetching it straight from radosgw through the presigned link the server
// handed out: no byte of the download passes through Flotilla. Skips with one line when radosgw is not installed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
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
  let s3: S3Client | undefined;
  let server: FlotillaServer | undefined;
  let fleet: MenderFleet | undefined;
  let work = '';
  let destDir = '';

  before(async () => {
    requireMender();
    rgw = await startRadosgw();
    // The server reads credentials the way it does in production: the AWS variables (startFlotilla passes them on).
    s3 = await radosgwBucket(rgw, BUCKET);
    server = await startFlotilla(dialect, {
      // Request lines logged (info), so that the test can tell no download went through the server.
      env: {
        FLOTILLA_S3_URL: `${rgw.endpoint}/${BUCKET}/fleet`,
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
    await rgw?.stop();
    for (const dir of [work, destDir]) if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('uploads to radosgw, and the client downloads from radosgw and installs', async (t) => {
    try {
      const client = fleet!.clients[0];
      const basic = Buffer.from(`${server!.adminEmail}:${server!.adminPassword}`).toString('base64');
      const login = await fetch(`${server!.url}/api/management/v1/useradm/auth/login`, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}` },
      });
      const token = await login.text();
      assert.equal(login.status, 200);
      const api = (method: string, path: string, body?: unknown) => callApi(server!.url, token, method, path, body);

      const [device] = await waitFor('the client to ask for admission', async () => {
        const list = (await api('GET', '/api/management/v2/devauth/devices')).json as {
          id: string;
          auth_sets: { id: string }[];
        }[];
        return list.length === 1 ? list : undefined;
      });
      const accept = `/api/management/v2/devauth/devices/${device.id}/auth/${device.auth_sets[0].id}/status`;
      assert.equal((await api('PUT', accept, { status: 'accepted' })).status, 204);

      const payload = join(work, 'single-file');
      mkdirSync(payload);
      const content = randomBytes(12 * 1024 * 1024);
      writeFileSync(join(payload, 'blob.bin'), content);
      writeFileSync(join(payload, 'dest_dir'), destDir);
      writeFileSync(join(payload, 'filename'), 'blob.bin');
      writeFileSync(join(payload, 'permissions'), '644');
      const out = join(work, 's3.mender');
      const made = spawnSync(
        'mender-artifact',
        [
          ...['write', 'module-image', '-T', 'single-file', '-n', 'e2e-s3-1', '-t', fleet!.deviceType],
          ...['dest_dir', 'filename', 'permissions', 'blob.bin'].flatMap((f) => ['-f', join(payload, f)]),
          ...['--compression', 'none', '-o', out],
        ],
        { encoding: 'utf8' },
      );
      assert.equal(made.status, 0, made.stderr);
      const artifact = readFileSync(out);
      const body = multipart({}, { field: 'artifact', filename: 's3.mender', content: artifact });
      const uploaded = await fetch(`${server!.url}${D1}/artifacts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, ...body.headers },
        body: new Uint8Array(body.payload),
      });
      assert.equal(uploaded.status, 201, await uploaded.text());
      const artifactId = String(uploaded.headers.get('location')).split('/').pop();
      const listed = await s3!.send(new ListObjectsV2Command({ Bucket: BUCKET }));
      const objects = (listed.Contents ?? []).map((o) => [o.Key, o.Size]);
      assert.equal(objects.length, 1);
      assert.match(String(objects[0][0]), new RegExp(`^fleet/[0-9a-f-]+/artifacts/${artifactId}$`));
      assert.equal(objects[0][1], artifact.length);

      const created = await api('POST', `${D1}/deployments`, {
        name: 's3 rollout',
        artifact_name: 'e2e-s3-1',
        devices: [device.id],
      });
      assert.equal(created.status, 201, JSON.stringify(created.json));
      const deploymentId = String(created.headers.get('location')).split('/').pop();
      await waitFor(
        'the device to report success',
        async () => {
          if (client.exited) throw new AbortWait(`mender exited (${client.exited})`);
          client.signal('SIGUSR1');
          const stats = (await api('GET', `${D1}/deployments/${deploymentId}/statistics`)).json;
          if (stats.failure > 0) throw new AbortWait(`the device failed: ${JSON.stringify(stats)}`);
          return stats.success === 1 ? stats : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 1000 },
      );
      assert.ok(readFileSync(join(destDir, 'blob.bin')).equals(content), 'the installed file is the payload');
      // The download went to radosgw (its access log), signed (a 200 or 206 there, which it refuses unsigned).
      const rgwLog = readFileSync(rgw!.logPath, 'utf8');
      const fetched = new RegExp(
        `"GET /${BUCKET}/fleet/[0-9a-f-]+/artifacts/${artifactId}\\?[^"]*X-Amz-Signature=[^"]*" 20[06]`,
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
});
