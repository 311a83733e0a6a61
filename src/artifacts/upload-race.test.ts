// Issue 18, point 5: parallel uploads of one artifact name. On PostgreSQL 4 of 20 won past the read-then-write
// duplicate check; the unique index over (tenant, device type, name + depends) lets exactly one win, the rest get
// Mender's 409, and no blob of a loser stays behind.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../../test/support/app.js';
import { multipart } from '../../test/support/multipart.js';

const A = '/api/management/v1/deployments/artifacts';
const PARALLEL = 20;

for (const dialect of dialects) {
  describe(`parallel uploads of one artifact (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    let work: string;
    let artifact: Buffer;

    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
      work = mkdtempSync(join(tmpdir(), 'flotilla-race-'));
      writeFileSync(join(work, 'app.conf'), 'setting=1\n');
      const out = join(work, 'a.mender');
      execFileSync(
        'mender-artifact',
        [
          'write',
          'module-image',
          '-T',
          'single-file',
          '-n',
          'race-1.0',
          '-t',
          'qemu',
          '-f',
          join(work, 'app.conf'),
        ].concat(['-o', out]),
        { stdio: 'pipe' },
      );
      artifact = readFileSync(out);
    });
    after(async () => {
      await t.close();
      rmSync(work, { recursive: true, force: true });
    });

    it('lets exactly one of 20 win; the others get 409 and leave no blob', async () => {
      const upload = () => {
        const body = multipart({}, { field: 'artifact', filename: 'a.mender', content: artifact });
        return t.app.inject({
          method: 'POST',
          url: A,
          payload: body.payload,
          headers: { authorization: `Bearer ${token}`, ...body.headers },
        });
      };
      const answers = await Promise.all(Array.from({ length: PARALLEL }, upload));
      const codes = answers.map((a) => a.statusCode).sort();
      assert.deepEqual(codes, [201, ...Array(PARALLEL - 1).fill(409)], answers.map((a) => a.body).join('\n'));
      for (const a of answers.filter((x) => x.statusCode === 409)) {
        assert.match(a.json().error, /same name and depends already exists/);
      }
      const rows = await t.services.store.db.selectFrom('artifacts').select(['id']).execute();
      assert.equal(rows.length, 1);
      const stored = readdirSync(join(t.config.dataDir, 'blobs', 'objects', t.tenant.id, 'artifacts'));
      assert.deepEqual(stored, [rows[0].id]);
      const temporary = readdirSync(join(t.config.dataDir, 'blobs', 'tmp'));
      assert.deepEqual(temporary, []);
    });

    it('refuses a NUL character in a multipart field with a 400 and keeps nothing', async () => {
      const before = await t.services.store.db.selectFrom('artifacts').select('id').execute();
      const body = multipart(
        { description: 'bad\u0000text' },
        { field: 'artifact', filename: 'a.mender', content: artifact },
      );
      const res = await t.app.inject({
        method: 'POST',
        url: A,
        payload: body.payload,
        headers: { authorization: `Bearer ${token}`, ...body.headers },
      });
      assert.equal(res.statusCode, 400, res.body);
      assert.match(res.json().error, /NUL/);
      assert.deepEqual(await t.services.store.db.selectFrom('artifacts').select('id').execute(), before);
      assert.deepEqual(readdirSync(join(t.config.dataDir, 'blobs', 'tmp')), []);
    });
  });
}
