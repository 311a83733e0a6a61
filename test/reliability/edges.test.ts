// Issue 18, point 8: inputs that answered 500 where a 4xx or success was due — malformed multipart bodies, id lists
// past the databases' bind-parameter limits, deeply nested JSON, artifact names outside Latin-1 in a download header, lone surrogates —
// and point 6: a device's log in a deployment is bounded whatever protocol appends to it. Both dialects.
import assert from 'node:assert/strict';
import { finished } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { MAX_LOG_LINES, TRUNCATED_MESSAGE } from '../../src/deployments/rules/log-size.js';
import { adminToken, dialects, type TestApp, testApp } from '../support/app.js';
import { addArtifact, assignedAttempt } from '../support/deployment-fixtures.js';
import { multipart } from '../support/multipart.js';

const ARTIFACTS = '/api/management/v1/deployments/artifacts';

for (const dialect of dialects) {
  describe(`malformed and oversized inputs (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
    });
    after(() => t.close());
    const auth = () => ({ authorization: `Bearer ${token}` });

    test('a multipart body without its boundary, with another boundary or cut short is a 400', async () => {
      const { payload, headers } = multipart(
        { description: 'x' },
        {
          field: 'artifact',
          filename: 'a.mender',
          content: Buffer.alloc(4096, 1),
        },
      );
      const cases: [string, Buffer][] = [
        ['multipart/form-data', payload],
        ['multipart/form-data; boundary=not-the-one-in-the-body', payload],
        [headers['content-type'], payload.subarray(0, payload.length / 2)],
      ];
      for (const url of [ARTIFACTS, `${ARTIFACTS}/generate`]) {
        for (const [contentType, body] of cases) {
          const res = await t.app.inject({
            method: 'POST',
            url,
            headers: { ...auth(), 'content-type': contentType },
            payload: body,
          });
          assert.equal(res.statusCode, 400, `${url} ${contentType}: ${res.body}`);
          assert.match(res.json().error, /multipart|artifact|file/);
        }
      }
    });

    test('statistics of 110,000 deployment ids (past both bind-parameter limits) are answered', async () => {
      const artifact = await addArtifact(t, { name: 'many-ids' });
      const { id } = await assignedAttempt(t, token, artifact.name.replace('many-ids', 'many-ids-2'));
      const ids = Array.from({ length: 110_000 }, (_, i) => String(i));
      ids[77_777] = id;
      const res = await t.app.inject({
        method: 'POST',
        url: '/api/management/v1/deployments/deployments/statistics/list',
        headers: auth(),
        payload: { deployment_ids: ids },
      });
      assert.equal(res.statusCode, 200, res.body);
      const list = res.json() as { id: string; stats: Record<string, number> }[];
      assert.deepEqual(
        list.map((s) => s.id),
        [id],
      );
      assert.equal(list[0].stats.pending + list[0].stats.downloading, 1);
    });

    test('an artifact named beyond U+00FF downloads, its name in an RFC 5987 filename*', async () => {
      const name = 'прошивка-✓ "1"';
      const artifact = await addArtifact(t, { name });
      const row = await t.services.artifacts.row(t.tenant.id, artifact.id);
      const pending = await t.services.blobs.begin(row.blob_key);
      pending.stream.end(Buffer.from('artifact bytes'));
      await finished(pending.stream);
      await pending.commit();
      const link = await t.app.inject({ method: 'GET', url: `${ARTIFACTS}/${artifact.id}/download`, headers: auth() });
      assert.equal(link.statusCode, 200, link.body);
      const url = new URL(link.json().uri as string);
      const res = await t.app.inject({ method: 'GET', url: `${url.pathname}${url.search}` });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.body, 'artifact bytes');
      const header = String(res.headers['content-disposition']);
      assert.match(header, /^attachment; filename="[\x20-\x7e]+"; filename\*=UTF-8''/);
      const encoded = /filename\*=UTF-8''(.+)$/.exec(header)?.[1] ?? '';
      assert.equal(decodeURIComponent(encoded), `${name}.mender`);
    });

    test('JSON nested past the depth limit is a 400 (it overflowed the stack where a body is stored whole)', async () => {
      const deep = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
      for (const url of ['/api/management/v1/useradm/settings', '/api/management/v1/useradm/settings/me']) {
        const res = await t.app.inject({
          method: 'POST',
          url,
          headers: { ...auth(), 'content-type': 'application/json' },
          payload: `{"a":${deep(150_000)}}`,
        });
        assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
        assert.match(res.json().error, /deeper than 64/);
        const shallow = await t.app.inject({
          method: 'POST',
          url,
          headers: { ...auth(), 'content-type': 'application/json' },
          payload: `{"a":${deep(10)}}`,
        });
        assert.ok(shallow.statusCode < 300, `${url}: ${shallow.statusCode} ${shallow.body}`);
      }
      const phases = await t.app.inject({
        method: 'POST',
        url: '/api/management/v1/deployments/deployments',
        headers: { ...auth(), 'content-type': 'application/json' },
        payload: `{"name":"x","artifact_name":"x","devices":["x"],"phases":[${deep(150_000)}]}`,
      });
      assert.equal(phases.statusCode, 400, phases.body);
    });

    test('lone surrogates are refused before SQLite can store them as invalid UTF-8', async () => {
      const res = await t.app.inject({
        method: 'PUT',
        url: '/api/management/v1/deviceconfig/configurations/device/some-device',
        headers: { ...auth(), 'content-type': 'application/json' },
        payload: '{"key":"half \\ud800 a pair"}',
      });
      assert.equal(res.statusCode, 400, res.body);
      assert.match(res.json().error, /surrogate/);
    });

    test(`a device's log in a deployment keeps ${MAX_LOG_LINES} lines, then one truncation line`, async () => {
      const { id, device } = await assignedAttempt(t, token, 'long-log');
      const attempts = t.services.deployments.attempts;
      const ref = { tenantId: t.tenant.id, deploymentId: id, deviceId: device.id };
      const line = (n: number) => ({ timestamp: new Date(n).toISOString(), level: 'info', message: `line ${n}` });
      const batch = (from: number, count: number) => Array.from({ length: count }, (_, i) => line(from + i));
      assert.equal(await attempts.appendLog(ref, batch(0, MAX_LOG_LINES - 1)), 'ok');
      // The feedback that crosses the maximum, then more: none of it past the truncation line is stored.
      assert.equal(await attempts.appendLog(ref, batch(MAX_LOG_LINES, 5)), 'ok');
      assert.equal(await attempts.appendLog(ref, batch(2 * MAX_LOG_LINES, 5)), 'ok');
      const log = (await attempts.log(t.tenant.id, id, device.id)) ?? [];
      assert.equal(log.length, MAX_LOG_LINES + 1);
      assert.equal(log[MAX_LOG_LINES - 1].message, `line ${MAX_LOG_LINES}`);
      assert.equal(log[MAX_LOG_LINES].message, TRUNCATED_MESSAGE);
      // A Mender device replacing its whole log starts again from nothing, under the same maximum.
      assert.equal(await attempts.replaceLog(ref, batch(0, 3)), 'ok');
      assert.equal((await attempts.log(t.tenant.id, id, device.id))?.length, 3);
    });
  });
}
