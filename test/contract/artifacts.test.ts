// Contract scenario for artifacts, releases and storage limits (deployments management v1 and v2): every
// implemented route, its success and its main errors, each response checked against the deployments-*.yml specs.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../support/app.js';
import { specsMissing } from '../support/contract.js';
import { multipart } from '../support/multipart.js';
import { type Call, caller } from './client.js';

const V1 = '/api/management/v1/deployments';
const V2 = '/api/management/v2/deployments';

for (const dialect of dialects) {
  describe(`artifacts contract (${dialect})`, { skip: specsMissing }, () => {
    let t: TestApp;
    let admin: Call;
    let work: string;
    let artifact: Buffer;
    let id = '';

    before(async () => {
      t = await testApp(dialect);
      admin = caller(t, await adminToken(t));
      work = mkdtempSync(join(tmpdir(), 'flotilla-contract-art-'));
      writeFileSync(join(work, 'file.txt'), 'contract payload\n');
      execFileSync('mender-artifact', [
        'write',
        'module-image',
        '-T',
        'single-file',
        '-n',
        'contract-1.0',
        '-t',
        'dt',
        '-f',
        join(work, 'file.txt'),
        '--provides',
        'x.version:1',
        '-o',
        join(work, 'a.mender'),
      ]);
      artifact = readFileSync(join(work, 'a.mender'));
    });
    after(async () => {
      await t.close();
      rmSync(work, { recursive: true, force: true });
    });

    it('upload: 201 with Location; 409 for a duplicate; 400 for a broken artifact', async () => {
      const body = multipart(
        { description: 'contract' },
        { field: 'artifact', filename: 'a.mender', content: artifact },
      );
      const res = await admin('POST', `${V1}/artifacts`, { payload: body.payload, headers: body.headers, expect: 201 });
      id = String(res.headers.location).split('/').pop()!;
      await admin('POST', `${V1}/artifacts`, { payload: body.payload, headers: body.headers, expect: 409 });
      const broken = multipart({}, { field: 'artifact', filename: 'b.mender', content: artifact.subarray(0, 700) });
      await admin('POST', `${V1}/artifacts`, {
        payload: broken.payload,
        headers: broken.headers,
        invalidRequest: true,
        expect: 400,
      });
    });

    it('generate: 201 with Location; 400 for a wrong type', async () => {
      const fields = { name: 'gen-1', device_types_compatible: 'dt', type: 'single_file', args: '{"dest_dir":"/tmp"}' };
      const body = multipart(fields, { field: 'file', filename: 'raw.txt', content: Buffer.from('raw') });
      await admin('POST', `${V1}/artifacts/generate`, { payload: body.payload, headers: body.headers, expect: 201 });
      const bad = multipart(
        { ...fields, type: 'other' },
        { field: 'file', filename: 'raw.txt', content: Buffer.from('raw') },
      );
      await admin('POST', `${V1}/artifacts/generate`, {
        payload: bad.payload,
        headers: bad.headers,
        invalidRequest: true,
        expect: 400,
      });
    });

    it('artifacts: list (v1, paged v1, v2), show, edit, download link, 404s', async () => {
      assert.ok((await admin('GET', `${V1}/artifacts`, { expect: 200 })).json().length >= 2);
      const paged = await admin('GET', `${V1}/artifacts/list?per_page=1&sort=name:desc`, { expect: 200 });
      assert.equal(paged.headers['x-total-count'], '2');
      await admin('GET', `${V2}/artifacts?name=contract*`, { expect: 200 });
      assert.equal((await admin('GET', `${V1}/artifacts/${id}`, { expect: 200 })).json().name, 'contract-1.0');
      await admin('PUT', `${V1}/artifacts/${id}`, { payload: { description: 'edited' }, expect: 204 });
      const link = (await admin('GET', `${V1}/artifacts/${id}/download`, { expect: 200 })).json();
      assert.ok(link.uri && link.expire);
      await admin('GET', `${V1}/artifacts/${randomUUID()}`, { expect: 404 });
      await admin('GET', `${V1}/artifacts/${randomUUID()}/download`, { expect: 404 });
      await admin('GET', `${V1}/limits/storage`, { expect: 200 });
    });

    it('releases: v1 lists, v2 list, show, notes, tags, all tags and types', async () => {
      assert.equal((await admin('GET', `${V1}/deployments/releases`, { expect: 200 })).json().length, 2);
      await admin('GET', `${V1}/deployments/releases/list?sort=modified:desc`, { expect: 200 });
      await admin('PUT', `${V2}/deployments/releases/contract-1.0/tags`, { payload: ['blue', 'green'], expect: 204 });
      await admin('PATCH', `${V2}/deployments/releases/contract-1.0`, { payload: { notes: 'notes' }, expect: 204 });
      const release = (await admin('GET', `${V2}/deployments/releases/contract-1.0`, { expect: 200 })).json();
      assert.deepEqual(release.tags, ['blue', 'green']);
      await admin('GET', `${V2}/deployments/releases?tag=blue`, { expect: 200 });
      await admin('GET', `${V2}/deployments/releases/nope`, { expect: 404 });
      assert.deepEqual((await admin('GET', `${V2}/releases/all/tags`, { expect: 200 })).json(), ['blue', 'green']);
      assert.deepEqual((await admin('GET', `${V2}/releases/all/types`, { expect: 200 })).json(), ['single-file']);
    });

    it('deletes an artifact (204, then 404) and a release (204)', async () => {
      await admin('DELETE', `${V1}/artifacts/${id}`, { expect: 204 });
      await admin('DELETE', `${V1}/artifacts/${id}`, { expect: 404 });
      await admin('DELETE', `${V2}/deployments/releases?name=gen-1`, { expect: 204 });
      assert.deepEqual((await admin('GET', `${V1}/artifacts`, { expect: 200 })).json(), []);
    });
  });
}
