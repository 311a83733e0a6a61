// The S3 blob store against a real S3 peer: Ceph's radosgw from Debian's packages (the harness starts one for this
// file). s3rver would not do: it accepts forged signatures and answers suffix ranges wrongly (research/scale-out.md).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, it } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { adminToken, dialects, type TestApp, testApp } from '../../test/support/app.js';
import { blobStoreContract, bytesOf, patterned } from '../../test/support/blob-contract.js';
import { createDeployment } from '../../test/support/deployment-fixtures.js';
import { multipart } from '../../test/support/multipart.js';
import { type Radosgw, radosgwMissing, startRadosgw } from '../../test/support/radosgw.js';
import { BlobReaper } from '../artifacts/reaper.js';
import { Leases } from '../store/leases.js';
import { S3BlobStore } from './s3.js';
import type { ByteRange } from './store.js';

const missing = radosgwMissing();
const A = '/api/management/v1/deployments/artifacts';

describe('S3 blob store on radosgw', { skip: missing }, () => {
  let rgw: Radosgw;
  let blobs: S3BlobStore;
  const bucket = 'flotilla';
  before(async () => {
    rgw = await startRadosgw();
    blobs = new S3BlobStore({
      endpoint: rgw.endpoint,
      region: rgw.region,
      bucket,
      prefix: 'blobs/',
      pathStyle: true,
      credentials: rgw.credentials,
    });
    await blobs.client.send(new CreateBucketCommand({ Bucket: bucket }));
  });
  after(async () => {
    blobs?.client.destroy();
    await rgw?.stop();
  });

  blobStoreContract(() => ({ blobs, leftovers: () => blobs.uploadsInFlight() }), 't1');

  async function put(key: string, bytes: Buffer) {
    const pending = await blobs.begin(key);
    await pipeline(Readable.from([bytes]), pending.stream);
    await pending.commit();
  }

  /** Waits for the store to have started the multipart upload (it does so when the first part is full). */
  async function uploadSeen(objectKey: string) {
    for (let i = 0; i < 600; i++) {
      if ((await blobs.uploadsInFlight()).includes(objectKey)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.fail(`no multipart upload of ${objectKey} started`);
  }

  it('completes a multipart upload of 8 MiB parts, invisible until commit', async () => {
    const bytes = patterned(8 * 1024 * 1024 * 2 + 12345);
    const pending = await blobs.begin('t1/multipart');
    await pipeline(Readable.from([bytes.subarray(0, 9e6), bytes.subarray(9e6)]), pending.stream);
    await uploadSeen('blobs/t1/multipart');
    assert.equal(await blobs.size('t1/multipart'), undefined);
    await pending.commit();
    assert.equal(await blobs.size('t1/multipart'), bytes.length);
    assert.ok((await bytesOf(await blobs.open('t1/multipart'))).equals(bytes));
    // A multipart object's ETag is the md5 of the parts' md5s with the part count: three parts went up.
    const head = await blobs.client.send(
      new GetObjectCommand({ Bucket: bucket, Key: 'blobs/t1/multipart', Range: 'bytes=0-0' }),
    );
    assert.match(head.ETag ?? '', /-3"$/);
    assert.deepEqual(await blobs.uploadsInFlight(), []);
  });

  it('aborts an upload after parts went up: no object, no upload left', async () => {
    const pending = await blobs.begin('t1/half');
    // Two full parts are handed over; the store sends them while the stream stays open.
    await new Promise<void>((resolve, reject) =>
      pending.stream.write(patterned(17 * 1024 * 1024), (error) => (error ? reject(error) : resolve())),
    );
    await uploadSeen('blobs/t1/half');
    await pending.abort();
    assert.equal(await blobs.size('t1/half'), undefined);
    assert.deepEqual(await blobs.uploadsInFlight(), []);
  });

  it('hands out presigned links that radosgw honours with Range, and refuses when tampered or expired', async () => {
    const bytes = patterned(10_000);
    await put('t1/linked', bytes);
    const url = (await blobs.downloadUrl('t1/linked', new Date(Date.now() + 3600_000), 'rootfs "v2".mender')) ?? '';
    assert.ok(url.startsWith(`${rgw.endpoint}/${bucket}/blobs/t1/linked?`), url);
    const whole = await fetch(url);
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get('content-disposition'), 'attachment; filename="rootfs _v2_.mender"');
    assert.ok(Buffer.from(await whole.arrayBuffer()).equals(bytes));

    // mender-client resumes with an open range; the suffix form is the other one clients send.
    const open = await fetch(url, { headers: { Range: 'bytes=9990-' } });
    assert.equal(open.status, 206);
    assert.equal(open.headers.get('content-range'), 'bytes 9990-9999/10000');
    assert.ok(Buffer.from(await open.arrayBuffer()).equals(bytes.subarray(9990)));
    const suffix = await fetch(url, { headers: { Range: 'bytes=-10' } });
    assert.equal(suffix.status, 206);
    assert.equal(suffix.headers.get('content-range'), 'bytes 9990-9999/10000');
    assert.ok(Buffer.from(await suffix.arrayBuffer()).equals(bytes.subarray(9990)));

    const signature = new URL(url).searchParams.get('X-Amz-Signature') ?? '';
    const flipped = `${signature[0] === 'a' ? 'b' : 'a'}${signature.slice(1)}`;
    const tampered = await fetch(url.replace(signature, flipped));
    assert.equal(tampered.status, 403);
    assert.match(await tampered.text(), /SignatureDoesNotMatch/);
    const otherKey = await fetch(url.replace('/t1/linked?', '/t1/multipart?'));
    assert.equal(otherKey.status, 403);
    const anonymous = await fetch(`${rgw.endpoint}/${bucket}/blobs/t1/linked`);
    assert.equal(anonymous.status, 403);

    // Signed an hour ago for one minute: expired, whatever the signature says.
    const expired = await getSignedUrl(blobs.client, new GetObjectCommand({ Bucket: bucket, Key: 'blobs/t1/linked' }), {
      expiresIn: 60,
      signingDate: new Date(Date.now() - 3600_000),
    });
    const late = await fetch(expired);
    assert.equal(late.status, 403);
    await late.arrayBuffer();
  });

  it('signs links for the time asked, at most the 7 days SigV4 allows', async () => {
    const day = new URL((await blobs.downloadUrl('t1/linked', new Date(Date.now() + 86_400_000))) ?? '');
    assert.ok(Math.abs(Number(day.searchParams.get('X-Amz-Expires')) - 86_400) <= 1);
    const year = new URL((await blobs.downloadUrl('t1/linked', new Date(Date.now() + 365 * 86_400_000))) ?? '');
    assert.equal(year.searchParams.get('X-Amz-Expires'), String(7 * 86_400));
  });

  it('cleans up only uploads older than a day at start (younger ones may be another node in flight)', async () => {
    const pending = await blobs.begin('t1/crashed');
    await new Promise<void>((resolve, reject) =>
      pending.stream.write(patterned(9 * 1024 * 1024), (error) => (error ? reject(error) : resolve())),
    );
    await uploadSeen('blobs/t1/crashed');
    assert.equal(await blobs.cleanup(), 0);
    assert.deepEqual(await blobs.uploadsInFlight(), ['blobs/t1/crashed']);
    assert.equal(await blobs.cleanup(new Date(Date.now() + 2 * 86_400_000)), 1);
    assert.deepEqual(await blobs.uploadsInFlight(), []);
    await pending.abort();
  });

  for (const dialect of dialects) {
    describe(`artifacts stored in S3, served by presigned links (${dialect})`, () => {
      let t: TestApp;
      let token: string;
      let work: string;
      let artifact: Buffer;
      const appBucket = `flotilla-app-${dialect}`;
      const auth = () => ({ authorization: `Bearer ${token}` });
      const upload = (content: Buffer) => {
        const body = multipart({}, { field: 'artifact', filename: 'a.mender', content });
        return t.app.inject({ method: 'POST', url: A, payload: body.payload, headers: { ...auth(), ...body.headers } });
      };
      const objects = async () =>
        (await blobs.client.send(new ListObjectsV2Command({ Bucket: appBucket }))).Contents?.map((o) => [
          o.Key,
          o.Size,
        ]) ?? [];
      const uploads = async () =>
        (await blobs.client.send(new ListMultipartUploadsCommand({ Bucket: appBucket }))).Uploads ?? [];

      before(async () => {
        await blobs.client.send(new CreateBucketCommand({ Bucket: appBucket }));
        // The server takes credentials from the SDK's usual chain, as in production.
        process.env.AWS_ACCESS_KEY_ID = rgw.credentials.accessKeyId;
        process.env.AWS_SECRET_ACCESS_KEY = rgw.credentials.secretAccessKey;
        const s3 = { endpoint: rgw.endpoint, region: rgw.region, bucket: appBucket, prefix: '', pathStyle: true };
        t = await testApp(dialect, { s3 });
        token = await adminToken(t);
        work = mkdtempSync(join(tmpdir(), 'flotilla-s3-'));
        // Incompressible, so that the artifact spans two 8 MiB parts.
        writeFileSync(join(work, 'rootfs.ext4'), randomBytes(9 * 1024 * 1024));
        execFileSync(
          'mender-artifact',
          [
            'write',
            'rootfs-image',
            '-t',
            'qemux86-64',
            '-n',
            'os-s3',
            '-f',
            join(work, 'rootfs.ext4'),
            '--compression',
            'none',
            '-o',
            join(work, 'os.mender'),
          ],
          { stdio: 'pipe' },
        );
        artifact = readFileSync(join(work, 'os.mender'));
      });
      after(async () => {
        await t?.close();
        if (work) rmSync(work, { recursive: true, force: true });
      });

      it('stores an upload as one object, hands out a radosgw link that resumes, deletes it with the artifact', async () => {
        const created = await upload(artifact);
        assert.equal(created.statusCode, 201, created.body);
        const id = String(created.headers.location).split('/').pop();
        assert.deepEqual(await objects(), [[`${t.tenant.id}/artifacts/${id}`, artifact.length]]);
        assert.deepEqual(await uploads(), []);

        const link = (await t.app.inject({ method: 'GET', url: `${A}/${id}/download`, headers: auth() })).json();
        assert.ok(link.uri.startsWith(`${rgw.endpoint}/${appBucket}/`), link.uri);
        const resumed = await fetch(link.uri, { headers: { Range: 'bytes=5000000-' } });
        assert.equal(resumed.status, 206);
        assert.equal(resumed.headers.get('content-range'), `bytes 5000000-${artifact.length - 1}/${artifact.length}`);
        assert.ok(Buffer.from(await resumed.arrayBuffer()).equals(artifact.subarray(5_000_000)));
        const ready = await t.app.inject({ method: 'GET', url: '/ready' });
        assert.equal(ready.json().checks.blobs, 'ok');

        assert.equal((await t.app.inject({ method: 'DELETE', url: `${A}/${id}`, headers: auth() })).statusCode, 204);
        assert.deepEqual(await objects(), []);
      });

      it('leaves no object and no upload behind when an artifact is refused after 12 MiB', async () => {
        const broken = Buffer.concat([artifact.subarray(0, 12 * 1024 * 1024), Buffer.from('not a tar any more')]);
        const refused = await upload(broken);
        assert.equal(refused.statusCode, 400, refused.body);
        const garbage = await upload(randomBytes(10 * 1024 * 1024));
        assert.equal(garbage.statusCode, 400, garbage.body);
        assert.deepEqual(await objects(), []);
        assert.deepEqual(await uploads(), []);
      });

      it('the blob reaper deletes an object no row owns and reports an artifact whose object is gone', async () => {
        const created = await upload(artifact);
        assert.equal(created.statusCode, 201, created.body);
        const id = String(created.headers.location).split('/').pop() as string;
        // What a crash between an object's completion and its row leaves, and a key outside Flotilla's layout.
        const orphan = `${t.tenant.id}/artifacts/${randomUUID()}`;
        for (const key of [orphan, 'someone-else/file']) {
          const pending = await t.services.blobs.begin(key);
          await pipeline(Readable.from([Buffer.from('orphaned bytes')]), pending.stream);
          await pending.commit();
        }
        const reaper = new BlobReaper(
          t.services.store,
          t.services.blobs,
          new Leases(t.services.store, 'test'),
          { reapInterval: 0, blobGrace: 0 },
          { info() {}, warn() {}, error() {} },
          () => new Date(Date.now() + 1000),
        );
        const result = await reaper.reapOnce();
        assert.deepEqual([result?.reaped, result?.foreign, result?.missing], [1, 1, []]);
        assert.deepEqual((await objects()).sort(), [
          [`${t.tenant.id}/artifacts/${id}`, artifact.length],
          ['someone-else/file', 14],
        ]);
        assert.equal(result?.bytes, result?.accounted);
        await t.services.blobs.delete('someone-else/file');
        await t.services.blobs.delete(`${t.tenant.id}/artifacts/${id}`);
        assert.deepEqual(
          (await reaper.reapOnce())?.missing.map((m) => m.id),
          [id],
        );
        assert.equal((await t.app.inject({ method: 'DELETE', url: `${A}/${id}`, headers: auth() })).statusCode, 204);
      });

      it('direct upload: the link is a presigned PUT to radosgw, complete verifies and registers; bad links refused', async () => {
        const requestLink = async () => {
          const res = await t.app.inject({ method: 'POST', url: `${A}/directupload`, headers: auth() });
          assert.equal(res.statusCode, 200, res.body);
          return res.json() as { id: string; uri: string; expire: string };
        };
        const complete = (id: string) =>
          t.app.inject({ method: 'POST', url: `${A}/directupload/${id}/complete`, headers: auth(), payload: {} });
        const link = await requestLink();
        assert.ok(link.uri.startsWith(`${rgw.endpoint}/${appBucket}/${t.tenant.id}/uploads/${link.id}?`), link.uri);
        assert.ok(Math.abs(Date.parse(link.expire) - Date.now() - 15 * 60_000) < 60_000);
        // Nothing arrived yet: nothing to complete.
        assert.equal((await complete(link.id)).statusCode, 404);

        // radosgw refuses a tampered signature, another key under the same signature, and an expired link.
        const signature = new URL(link.uri).searchParams.get('X-Amz-Signature') ?? '';
        const flipped = `${signature[0] === 'a' ? 'b' : 'a'}${signature.slice(1)}`;
        const tampered = await fetch(link.uri.replace(signature, flipped), {
          method: 'PUT',
          body: new Uint8Array(artifact),
        });
        assert.equal(tampered.status, 403);
        assert.match(await tampered.text(), /SignatureDoesNotMatch/);
        const elsewhere = await fetch(link.uri.replace(`/uploads/${link.id}?`, `/artifacts/${link.id}?`), {
          method: 'PUT',
          body: new Uint8Array(artifact),
        });
        assert.equal(elsewhere.status, 403);
        await elsewhere.arrayBuffer();
        const key = `${t.tenant.id}/uploads/${link.id}`;
        const expired = await getSignedUrl(blobs.client, new PutObjectCommand({ Bucket: appBucket, Key: key }), {
          expiresIn: 60,
          signingDate: new Date(Date.now() - 3600_000),
        });
        const late = await fetch(expired, { method: 'PUT', body: new Uint8Array(artifact) });
        assert.equal(late.status, 403);
        await late.arrayBuffer();
        assert.deepEqual(await objects(), []);
        assert.equal((await complete(link.id)).statusCode, 404);

        const put = await fetch(link.uri, { method: 'PUT', body: new Uint8Array(artifact) });
        assert.equal(put.status, 200, await put.text());
        assert.equal((await t.app.inject({ method: 'GET', url: `${A}/${link.id}`, headers: auth() })).statusCode, 404);
        const done = await complete(link.id);
        assert.equal(done.statusCode, 202, done.body);
        const view = (await t.app.inject({ method: 'GET', url: `${A}/${link.id}`, headers: auth() })).json();
        assert.equal(view.name, 'os-s3');
        assert.equal(view.size, artifact.length);
        // The upload's object is gone; the artifact is one object under a key of the upload's id, byte for byte
        // (each completion writes its own: two racing ones never share a key).
        const stored = await objects();
        assert.equal(stored.length, 1);
        const [artifactKey, artifactSize] = stored[0];
        assert.ok(String(artifactKey).startsWith(`${t.tenant.id}/artifacts/${link.id}-`), String(artifactKey));
        assert.equal(artifactSize, artifact.length);
        assert.ok((await bytesOf(await t.services.blobs.open(String(artifactKey)))).equals(artifact));
        // Completing again answers the artifact it made (idempotent completion, issue 18 point 7).
        assert.equal((await complete(link.id)).statusCode, 202);
        assert.equal(
          (await t.app.inject({ method: 'DELETE', url: `${A}/${link.id}`, headers: auth() })).statusCode,
          204,
        );

        // Bytes that are no artifact: complete refuses them with the reason, and nothing stays in the bucket.
        const bad = await requestLink();
        assert.equal((await fetch(bad.uri, { method: 'PUT', body: new Uint8Array(randomBytes(100_000)) })).status, 200);
        const refused = await complete(bad.id);
        assert.equal(refused.statusCode, 400, refused.body);
        assert.deepEqual(await objects(), []);
        assert.deepEqual(await uploads(), []);
      });

      it('serves a hawkBit DDI payload file by ranged reads of the one artifact object, Range as on the folder store', async () => {
        const swu = randomBytes(3 * 1024 * 1024 + 77);
        const up = await t.app.inject({
          method: 'POST',
          url: '/api/ddi/v1/artifacts?filename=update.swu&version=swu-s3&device_type=ddi-board',
          headers: { ...auth(), 'content-type': 'application/octet-stream' },
          payload: swu,
        });
        assert.equal(up.statusCode, 201, up.body);
        const target = await t.app.inject({
          method: 'POST',
          url: '/api/ddi/v1/targets',
          headers: auth(),
          payload: { controller_id: 'ddi-s3', device_type: 'ddi-board' },
        });
        assert.equal(target.statusCode, 201, target.body);
        const { token: targetToken, device_id: deviceId } = target.json();
        await createDeployment(t, token, { name: 'ddi on s3', artifact_name: 'swu-s3', devices: [deviceId] });
        const ddi = (path: string, headers: Record<string, string> = {}) =>
          t.app.inject({
            method: 'GET',
            url: path,
            headers: { authorization: `TargetToken ${targetToken}`, ...headers },
          });
        const base = (await ddi('/DEFAULT/controller/v1/ddi-s3')).json()._links.deploymentBase.href as string;
        const action = (await ddi(new URL(base).pathname)).json();
        const [file] = action.deployment.chunks[0].artifacts;
        assert.equal(file.hashes.sha256, createHash('sha256').update(swu).digest('hex'));
        const download = new URL(file._links['download-http'].href).pathname;

        // Every read of the artifact object from here on is ranged: the payload file's bytes, never the whole.
        const reads: (ByteRange | undefined)[] = [];
        const open = t.services.blobs.open.bind(t.services.blobs);
        t.services.blobs.open = (key, range) => {
          reads.push(range);
          return open(key, range);
        };
        try {
          const whole = await ddi(download);
          assert.equal(whole.statusCode, 200);
          assert.ok(whole.rawPayload.equals(swu));
          const part = await ddi(download, { range: 'bytes=1000000-1999999' });
          assert.equal(part.statusCode, 206);
          assert.equal(part.headers['content-range'], `bytes 1000000-1999999/${swu.length}`);
          assert.ok(part.rawPayload.equals(swu.subarray(1_000_000, 2_000_000)));
          const tail = await ddi(download, { range: `bytes=${swu.length - 5}-` });
          assert.ok(tail.rawPayload.equals(swu.subarray(swu.length - 5)));
          const suffix = await ddi(download, { range: 'bytes=-10' });
          assert.equal(suffix.headers['content-range'], `bytes ${swu.length - 10}-${swu.length - 1}/${swu.length}`);
          assert.ok(suffix.rawPayload.equals(swu.subarray(swu.length - 10)));
          assert.equal((await ddi(download, { range: `bytes=${swu.length}-` })).statusCode, 416);
        } finally {
          t.services.blobs.open = open;
        }
        assert.equal(reads.length, 4);
        const [first, second] = reads as ByteRange[];
        assert.equal(first.end - first.start + 1, swu.length);
        assert.deepEqual(second, { start: first.start + 1_000_000, end: first.start + 1_999_999 });
        // One object for the artifact: no unpacked copy of the payload file.
        const id = (await t.app.inject({ method: 'GET', url: `${A}?name=swu-s3`, headers: auth() })).json()[0].id;
        assert.deepEqual(
          (await objects()).map(([key]) => key),
          [`${t.tenant.id}/artifacts/${id}`],
        );
      });
    });
  }
});
