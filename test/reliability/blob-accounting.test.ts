// Issue 18, point 7, in process on both dialects: what a crash between a blob's step and its row's left behind is
// reconciled by the blob reaper (orphans deleted after the grace period, abandoned direct uploads removed with their
// bytes, rows without a blob reported and kept); direct uploads count in storage use and are refused past the limit;
// after a reconciliation storage use equals the bytes on disk.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import { BlobReaper } from '../../src/artifacts/reaper.js';
import { Leases } from '../../src/store/leases.js';
import { adminToken, dialects, type TestApp, testApp } from '../support/app.js';
import { moduleArtifactBytes } from '../support/module-artifact.js';

const A = '/api/management/v1/deployments/artifacts';

async function artifactBytes(name: string, payloadBytes: number): Promise<Buffer> {
  return moduleArtifactBytes(name, 'accounting-board', payloadBytes);
}

for (const dialect of dialects) {
  describe(`blob accounting and the blob reaper (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    const logged: { level: string; msg: string; obj: object }[] = [];
    const log = {
      info: (obj: object, msg: string) => logged.push({ level: 'info', msg, obj }),
      warn: (obj: object, msg: string) => logged.push({ level: 'warn', msg, obj }),
      error: (obj: object, msg: string) => logged.push({ level: 'error', msg, obj }),
    };
    let clock = new Date();
    // One holder for every reaper of the test: the lease is this test process's.
    const holder = `test:${randomUUID()}`;
    const reaper = (blobGrace = 0) =>
      new BlobReaper(
        t.services.store,
        t.services.blobs,
        new Leases(t.services.store, holder),
        { reapInterval: 0, blobGrace },
        log,
        () => clock,
      );
    const auth = () => ({ authorization: `Bearer ${token}` });
    const upload = async (bytes: Buffer) => {
      const boundary = `b${randomBytes(6).toString('hex')}`;
      const payload = Buffer.concat([
        Buffer.from(
          `--${boundary}\r\nContent-Disposition: form-data; name="artifact"; filename="a.mender"\r\n` +
            'Content-Type: application/octet-stream\r\n\r\n',
        ),
        bytes,
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      return t.app.inject({
        method: 'POST',
        url: A,
        headers: { ...auth(), 'content-type': `multipart/form-data; boundary=${boundary}` },
        payload,
      });
    };
    const link = async () => {
      const res = await t.app.inject({ method: 'POST', url: `${A}/directupload`, headers: auth() });
      return { status: res.statusCode, id: res.json().id as string, uri: res.json().uri as string };
    };
    const put = (uri: string, body: Buffer) => {
      const url = new URL(uri);
      return t.app.inject({
        method: 'PUT',
        url: `${url.pathname}${url.search}`,
        headers: { 'content-type': 'application/octet-stream' },
        payload: body,
      });
    };
    const usage = async () =>
      (
        await t.app.inject({ method: 'GET', url: '/api/management/v1/deployments/limits/storage', headers: auth() })
      ).json().usage as number;
    /** A blob as a crash after its commit leaves it: committed, no row. */
    const strayBlob = async (key: string, size: number) => {
      const pending = await t.services.blobs.begin(key);
      await pipeline(Readable.from([randomBytes(size)]), pending.stream);
      await pending.commit();
    };
    const blobKeys = async () => {
      const keys: string[] = [];
      for await (const blob of t.services.blobs.list()) keys.push(blob.key);
      return keys.sort();
    };

    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
    });
    after(() => t.close());

    it('deletes blobs no row owns once past the grace period, and only those', async () => {
      const kept = await upload(await artifactBytes('accounting-kept', 2048));
      assert.equal(kept.statusCode, 201, kept.body);
      const keptId = String(kept.headers.location).split('/').pop();
      const orphan = `${t.tenant.id}/artifacts/${randomUUID()}`;
      const orphanUpload = `${t.tenant.id}/uploads/${randomUUID()}-${randomUUID()}`;
      await strayBlob(orphan, 3000);
      await strayBlob(orphanUpload, 1000);
      await strayBlob('elsewhere/not-flotillas.bin', 10);

      clock = new Date();
      const young = await reaper(3600).reapOnce();
      assert.equal(young?.reaped, 0, 'within the grace period nothing goes');
      assert.equal(young?.young, 2);

      clock = new Date(Date.now() + 1000);
      const result = await reaper().reapOnce();
      assert.equal(result?.reaped, 2);
      assert.equal(result?.reapedBytes, 4000);
      assert.equal(result?.foreign, 1, 'a key outside the layout is left alone');
      assert.deepEqual(await blobKeys(), [`${t.tenant.id}/artifacts/${keptId}`, 'elsewhere/not-flotillas.bin'].sort());
      assert.equal(result?.bytes, result?.accounted, 'storage use equals the bytes of the blobs');
      assert.equal(result?.bytes, await usage());
      await t.services.blobs.delete('elsewhere/not-flotillas.bin');
    });

    it('an artifact deleted by a process that died before its blob went: the reaper deletes the blob', async () => {
      const made = await upload(await artifactBytes('accounting-deleted', 1024));
      assert.equal(made.statusCode, 201, made.body);
      const id = String(made.headers.location).split('/').pop() as string;
      // The row's transaction committed; the blob's delete never ran.
      await t.services.store.db.deleteFrom('artifact_device_types').where('artifact_id', '=', id).execute();
      await t.services.store.db.deleteFrom('artifacts').where('id', '=', id).execute();
      assert.ok((await blobKeys()).includes(`${t.tenant.id}/artifacts/${id}`));
      clock = new Date(Date.now() + 1000);
      await reaper().reapOnce();
      assert.ok(!(await blobKeys()).includes(`${t.tenant.id}/artifacts/${id}`));
    });

    it('reports a row whose blob is missing and keeps the row', async () => {
      const made = await upload(await artifactBytes('accounting-missing', 1024));
      const id = String(made.headers.location).split('/').pop() as string;
      await t.services.blobs.delete(`${t.tenant.id}/artifacts/${id}`);
      logged.length = 0;
      const result = await reaper().reapOnce();
      assert.deepEqual(
        result?.missing.map((m) => [m.kind, m.id]),
        [['artifact', id]],
      );
      assert.ok(logged.some((l) => l.level === 'warn' && /blob is missing/.test(l.msg)));
      assert.equal((await t.app.inject({ method: 'GET', url: `${A}/${id}`, headers: auth() })).statusCode, 200);
      assert.equal((await t.app.inject({ method: 'DELETE', url: `${A}/${id}`, headers: auth() })).statusCode, 204);
      assert.deepEqual((await reaper().reapOnce())?.missing, []);
    });

    it('direct uploads count in storage use from their PUT and are refused past the limit', async () => {
      const before = await usage();
      const first = await link();
      assert.equal((await put(first.uri, randomBytes(6000))).statusCode, 200);
      assert.equal(await usage(), before + 6000, 'the uploaded bytes count before completion');
      await t.services.tenants.setStorageLimit(t.tenant.id, before + 10_000);
      try {
        const second = await link();
        const refused = await put(second.uri, randomBytes(5000));
        assert.equal(refused.statusCode, 400);
        assert.match(refused.json().error, /storage limit/);
        assert.equal(await usage(), before + 6000, 'a refused PUT counts nothing');
        // Replacing the first upload's bytes counts the new bytes instead of the old.
        assert.equal((await put(first.uri, randomBytes(9000))).statusCode, 200);
        assert.equal(await usage(), before + 9000);
        assert.equal((await put(second.uri, randomBytes(1000))).statusCode, 200);
        assert.equal(await usage(), before + 10_000);
        const full = await link();
        assert.equal(full.status, 400, 'no link once the limit is reached');
      } finally {
        await t.services.tenants.setStorageLimit(t.tenant.id, 0);
      }
      const reconciled = await reaper().reapOnce();
      assert.equal(reconciled?.bytes, reconciled?.accounted);
      assert.equal(reconciled?.bytes, await usage());
    });

    it('a completion counts its own bytes once against the limit', async () => {
      const bytes = await artifactBytes('accounting-complete', 4096);
      const before = await usage();
      const upload = await link();
      assert.equal((await put(upload.uri, bytes)).statusCode, 200);
      await t.services.tenants.setStorageLimit(t.tenant.id, before + bytes.length + 10);
      try {
        const done = await t.app.inject({
          method: 'POST',
          url: `${A}/directupload/${upload.id}/complete`,
          headers: auth(),
        });
        assert.equal(done.statusCode, 202, done.body);
      } finally {
        await t.services.tenants.setStorageLimit(t.tenant.id, 0);
      }
      assert.equal(await usage(), before + bytes.length);
    });

    it('removes direct uploads abandoned for a day, bytes and all, and stops counting them', async () => {
      const abandoned = await link();
      assert.equal((await put(abandoned.uri, randomBytes(2500))).statusCode, 200);
      const counted = await usage();
      clock = new Date(Date.now() + 25 * 3600 * 1000);
      const result = await reaper().reapOnce();
      clock = new Date();
      assert.ok((result?.abandoned ?? 0) >= 1);
      const rows = await t.services.store.db.selectFrom('artifact_uploads').select('id').execute();
      assert.deepEqual(rows, []);
      assert.ok(!(await blobKeys()).some((k) => k.includes(`/uploads/${abandoned.id}-`)));
      assert.ok((await usage()) <= counted - 2500);
      const reconciled = await reaper().reapOnce();
      assert.equal(reconciled?.bytes, await usage());
    });
  });
}
