// Issue 18, point 8 (part): inputs that answered 500 on PostgreSQL. NUL characters anywhere in a request and
// inventory values too large for the attributes index get a 400 before the database sees them; concurrent
// inventory writes of one device all succeed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { dialects, type TestApp, testApp } from '../../test/support/app.js';
import { addDevice, userToken } from '../../test/support/inventory-fixtures.js';

const DEV = '/api/devices/v1/inventory/device/attributes';
const V1 = '/api/management/v1/inventory';

for (const dialect of dialects) {
  describe(`inventory input limits (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    before(async () => {
      t = await testApp(dialect);
      token = await userToken(t, t.tenant.id);
    });
    after(() => t.close());

    const report = (deviceToken: string, raw: string, method: 'PATCH' | 'PUT' = 'PATCH') =>
      t.app.inject({
        method,
        url: DEV,
        headers: { authorization: `Bearer ${deviceToken}`, 'content-type': 'application/json' },
        payload: raw,
      });
    const attributes = async (id: string) => {
      const res = await t.app.inject({
        method: 'GET',
        url: `${V1}/devices/${id}`,
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(res.statusCode, 200, res.body);
      return (res.json().attributes as { scope: string; name: string; value: unknown }[]).filter(
        (a) => a.scope === 'inventory',
      );
    };

    it('refuses NUL characters and lone surrogates with a 400, writing nothing', async () => {
      const d = await addDevice(t);
      for (const raw of [
        '[{"name":"os","value":"linux\\u0000"}]',
        '[{"name":"o\\u0000s","value":"linux"}]',
        '[{"name":"tags","value":["a","b\\u0000"]}]',
        '[{"name":"os","value":"linux\\ud800"}]',
      ]) {
        const res = await report(d.token, raw);
        assert.equal(res.statusCode, 400, `${raw}: ${res.body}`);
        assert.match(res.json().error, /NUL|Unicode/);
      }
      assert.deepEqual(await attributes(d.id), []);
      // An escaped backslash before "u0000" is plain text, and a paired surrogate is a character.
      assert.equal((await report(d.token, '[{"name":"os","value":"C:\\\\u0000 😀"}]')).statusCode, 200);
      assert.deepEqual(
        (await attributes(d.id)).map((a) => a.value),
        ['C:\\u0000 😀'],
      );
    });

    it('refuses NUL characters in query strings, path parameters and management bodies too', async () => {
      const headers = { authorization: `Bearer ${token}` };
      const query = await t.app.inject({ method: 'GET', url: `${V1}/devices?name=a%00b`, headers });
      assert.equal(query.statusCode, 400, query.body);
      const path = await t.app.inject({ method: 'GET', url: `${V1}/devices/a%00b`, headers });
      assert.equal(path.statusCode, 400, path.body);
      const body = await t.app.inject({
        method: 'POST',
        url: '/api/management/v1/useradm/users',
        headers: { ...headers, 'content-type': 'application/json' },
        payload: '{"email":"x\\u0000@example.com","password":"correct-horse-battery"}',
      });
      assert.equal(body.statusCode, 400, body.body);
      assert.match(body.json().error, /NUL/);
    });

    it('refuses a value too large for the attributes index with a 400, and stores one that fits', async () => {
      const d = await addDevice(t);
      const big = JSON.stringify([{ name: 'blob', value: 'x'.repeat(3000) }]);
      const res = await report(d.token, big);
      assert.equal(res.statusCode, 400, res.body);
      assert.match(res.json().error, /at most 2048 bytes/);
      // Multi-byte characters count by their bytes: 700 × 3 bytes is over the limit too.
      assert.equal((await report(d.token, JSON.stringify([{ name: 'cjk', value: '漢'.repeat(700) }]))).statusCode, 400);
      assert.equal(
        (await report(d.token, JSON.stringify([{ name: 'arr', value: ['a', 'y'.repeat(2100)] }]))).statusCode,
        400,
      );
      assert.deepEqual(await attributes(d.id), []);
      const fits = JSON.stringify([{ name: 'blob', value: 'x'.repeat(2048 - 'blob'.length) }]);
      assert.equal((await report(d.token, fits)).statusCode, 200);
      assert.equal(((await attributes(d.id))[0].value as string).length, 2044);
    });

    it('refuses an array value of more than 1024 elements (issue 18, point 3: one device held the writer)', async () => {
      const d = await addDevice(t);
      const huge = JSON.stringify([{ name: 'many', value: Array.from({ length: 110_000 }, (_, i) => `v${i}`) }]);
      const res = await report(d.token, huge);
      assert.equal(res.statusCode, 400, res.body);
      assert.match(res.json().error, /has 110000 values; at most 1024/);
      assert.deepEqual(await attributes(d.id), []);
      const most = JSON.stringify([{ name: 'many', value: Array.from({ length: 1024 }, (_, i) => i) }]);
      assert.equal((await report(d.token, most)).statusCode, 200);
      assert.equal(((await attributes(d.id))[0].value as number[]).length, 1024);
    });

    it('takes 30 concurrent inventory writes of one device without an error', async () => {
      const d = await addDevice(t);
      const writes = Array.from({ length: 30 }, (_, i) =>
        report(
          d.token,
          JSON.stringify([
            { name: 'shared', value: ['v', String(i), 'x'.repeat(i % 3)] },
            { name: `own-${i}`, value: i },
          ]),
          i % 5 === 0 ? 'PUT' : 'PATCH',
        ),
      );
      const answers = await Promise.all(writes);
      assert.deepEqual(
        answers.map((a) => a.statusCode),
        Array(30).fill(200),
        answers.map((a) => a.body).join(' '),
      );
      const shared = (await attributes(d.id)).find((a) => a.name === 'shared');
      assert.ok(Array.isArray(shared?.value) && shared.value.length === 3, JSON.stringify(shared));
    });
  });
}
