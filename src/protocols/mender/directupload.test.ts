// Direct uploads on both dialects: link → PUT of the raw bytes → complete makes the artifact under the upload's id;
// forged, expired or foreign links, unknown completions and bad artifacts change nothing; a repeated completion
// answers the artifact it made (idempotent: test/contract/deviations.ts).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../../../test/support/app.js';

const A = '/api/management/v1/deployments/artifacts';

for (const dialect of dialects) {
  describe(`artifact direct upload (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    let work: string;
    let artifact: Buffer;
    const auth = () => ({ authorization: `Bearer ${token}` });

    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
      work = mkdtempSync(join(tmpdir(), 'flotilla-direct-'));
      writeFileSync(join(work, 'app.conf'), 'direct upload payload\n');
      execFileSync(
        'mender-artifact',
        [
          'write',
          'module-image',
          '-T',
          'single-file',
          '-n',
          'direct-1',
          '-t',
          'qemu',
          '-f',
          join(work, 'app.conf'),
        ].concat(['-o', join(work, 'direct.mender')]),
        { stdio: 'pipe' },
      );
      artifact = readFileSync(join(work, 'direct.mender'));
    });
    after(async () => {
      await t.close();
      rmSync(work, { recursive: true, force: true });
    });

    const requestLink = async () => {
      const res = await t.app.inject({ method: 'POST', url: `${A}/directupload`, headers: auth() });
      assert.equal(res.statusCode, 200, res.body);
      const link = res.json() as { id: string; uri: string; expire: string };
      const url = new URL(link.uri);
      return { ...link, path: `${url.pathname}${url.search}`, url };
    };
    const put = (path: string, body: Buffer) =>
      t.app.inject({
        method: 'PUT',
        url: path,
        headers: { 'content-type': 'application/octet-stream' },
        payload: body,
      });
    const complete = (id: string) =>
      t.app.inject({ method: 'POST', url: `${A}/directupload/${id}/complete`, headers: auth() });
    const uploadsLeft = async () =>
      (await t.services.store.db.selectFrom('artifact_uploads').select('id').execute()).map((r) => r.id);
    const blobs = () => {
      const walk = (dir: string): string[] =>
        readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
          d.isDirectory() ? walk(join(dir, d.name)) : [join(dir, d.name)],
        );
      return walk(join(t.config.dataDir, 'blobs')).filter((p) => p.includes('/uploads/'));
    };

    it('link, PUT, complete: the artifact exists under the upload id', async () => {
      const link = await requestLink();
      assert.match(link.id, /^[0-9a-f-]{36}$/);
      assert.ok(Date.parse(link.expire) > Date.now());
      assert.match(link.url.pathname, new RegExp(`/artifacts/${link.id}$`));
      const res = await put(link.path, artifact);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal((await complete(link.id)).statusCode, 202);
      const shown = await t.app.inject({ method: 'GET', url: `${A}/${link.id}`, headers: auth() });
      assert.equal(shown.statusCode, 200);
      assert.equal(shown.json().name, 'direct-1');
      assert.equal(shown.json().size, artifact.length);
      assert.deepEqual(await uploadsLeft(), []);
      assert.deepEqual(blobs(), [], 'the uploaded bytes are not kept twice');
      assert.equal((await complete(link.id)).statusCode, 202, 'completing again answers the artifact it made');
      const listed = await t.app.inject({ method: 'GET', url: `${A}?name=direct-1`, headers: auth() });
      assert.deepEqual(
        listed.json().map((a: { id: string }) => a.id),
        [link.id],
        'and makes no second one',
      );
    });

    it('forged, foreign and unknown links are refused; completing without bytes is 404', async () => {
      const link = await requestLink();
      const forged = link.path.replace(/signature=[^&]+/, 'signature=AAAA');
      assert.equal((await put(forged, artifact)).statusCode, 403);
      const otherId = link.path.replace(link.id, '00000000-0000-4000-8000-000000000000');
      assert.equal((await put(otherId, artifact)).statusCode, 403, 'the signature covers the id');
      const otherTenant = link.path.replace(`/v1/${t.tenant.id}/`, '/v1/someone-else/');
      assert.equal((await put(otherTenant, artifact)).statusCode, 403, 'the signature covers the tenant');
      const res = await complete(link.id);
      assert.equal(res.statusCode, 404);
      assert.deepEqual(Object.keys(res.json()).sort(), ['error', 'request_id']);
      assert.equal((await complete('no-such-upload')).statusCode, 404);
      const unauthenticated = await t.app.inject({ method: 'POST', url: `${A}/directupload` });
      assert.equal(unauthenticated.statusCode, 401);
    });

    it('a bad artifact completes with 400 and leaves nothing behind; a second PUT replaces the first', async () => {
      const link = await requestLink();
      assert.equal((await put(link.path, Buffer.from('not an artifact at all'))).statusCode, 200);
      assert.equal((await put(link.path, artifact.subarray(0, artifact.length - 700))).statusCode, 200);
      assert.equal(blobs().length, 1, 'the second PUT replaced the first');
      const res = await complete(link.id);
      assert.equal(res.statusCode, 400);
      assert.match(res.json().error, /artifact/);
      const listed = await t.app.inject({ method: 'GET', url: `${A}/${link.id}`, headers: auth() });
      assert.equal(listed.statusCode, 404);
      assert.deepEqual(blobs(), []);
      assert.ok(!(await uploadsLeft()).includes(link.id));
    });

    it('an upload larger than the limit is refused while it streams', async () => {
      const small = await testApp(dialect, { maxArtifactSize: 1024 });
      try {
        const admin = await adminToken(small);
        const res = await small.app.inject({
          method: 'POST',
          url: `${A}/directupload`,
          headers: { authorization: `Bearer ${admin}` },
        });
        const url = new URL(res.json().uri);
        const put2 = await small.app.inject({
          method: 'PUT',
          url: `${url.pathname}${url.search}`,
          headers: { 'content-type': 'application/octet-stream' },
          payload: artifact,
        });
        assert.equal(put2.statusCode, 400);
        assert.match(put2.json().error, /too large/);
      } finally {
        await small.close();
      }
    });
  });
}
