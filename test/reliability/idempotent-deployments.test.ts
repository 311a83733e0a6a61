// Issue 18, point 9: deployment creation survives a lost answer. A retry with the same Idempotency-Key gets the
// deployment the first request made (also when the two race), a different request under the key is refused, and
// without a key every request creates one, as in Mender. Both dialects.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../support/app.js';
import { addArtifact } from '../support/deployment-fixtures.js';
import { addDevice } from '../support/inventory-fixtures.js';

const DEPLOYMENTS = '/api/management/v1/deployments/deployments';

for (const dialect of dialects) {
  describe(`idempotent deployment creation (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    let body: { name: string; artifact_name: string; devices: string[] };
    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
      const artifact = await addArtifact(t, { name: 'retried' });
      const device = await addDevice(t);
      body = { name: 'retried', artifact_name: artifact.name, devices: [device.id] };
    });
    after(() => t.close());

    const create = (payload: object, key?: string) =>
      t.app.inject({
        method: 'POST',
        url: DEPLOYMENTS,
        headers: { authorization: `Bearer ${token}`, ...(key === undefined ? {} : { 'idempotency-key': key }) },
        payload,
      });
    const count = async () =>
      (await t.services.store.db.selectFrom('deployments').select('id').where('tenant_id', '=', t.tenant.id).execute())
        .length;

    test('a retry with the same key answers the first deployment, and makes no second one', async () => {
      const before = await count();
      const first = await create(body, 'retry-1');
      assert.equal(first.statusCode, 201, first.body);
      const again = await create(body, 'retry-1');
      assert.equal(again.statusCode, 201, again.body);
      assert.equal(again.headers.location, first.headers.location);
      assert.equal(await count(), before + 1);
    });

    test('racing requests with one key make one deployment, and all answer it', async () => {
      const before = await count();
      const answers = await Promise.all(Array.from({ length: 8 }, () => create(body, 'race-1')));
      for (const answer of answers) assert.equal(answer.statusCode, 201, answer.body);
      assert.equal(new Set(answers.map((a) => a.headers.location)).size, 1);
      assert.equal(await count(), before + 1);
    });

    test('the key with a different request is a 422; a malformed key a 400; no key creates every time', async () => {
      assert.equal((await create(body, 'reuse-1')).statusCode, 201);
      const other = await create({ ...body, name: 'something else' }, 'reuse-1');
      assert.equal(other.statusCode, 422, other.body);
      assert.match(other.json().error, /Idempotency-Key/);
      assert.equal((await create(body, 'x'.repeat(256))).statusCode, 400);
      const before = await count();
      assert.equal((await create(body)).statusCode, 201);
      assert.equal((await create(body)).statusCode, 201);
      assert.equal(await count(), before + 2);
    });
  });
}
