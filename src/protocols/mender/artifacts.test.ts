import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../../../test/support/app.js';
import { menderArtifactRead } from '../../../test/support/mender-artifact.js';
import { multipart } from '../../../test/support/multipart.js';

const A = '/api/management/v1/deployments/artifacts';

function mender(dir: string, name: string, args: string[]): Buffer {
  const out = join(dir, `${name}.mender`);
  execFileSync('mender-artifact', ['write', ...args, '-o', out], { stdio: 'pipe' });
  return readFileSync(out);
}

function objectsUnder(root: string): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir, { withFileTypes: true }).map((d) => (d.isDirectory() ? `${d.name}/` : d.name));
    } catch {
      return;
    }
    for (const n of names) {
      if (n.endsWith('/')) walk(join(dir, n));
      else found.push(join(dir, n));
    }
  };
  walk(root);
  return found;
}

for (const dialect of dialects) {
  describe(`artifacts API (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    let work: string;
    let moduleArtifact: Buffer;
    let rootfsArtifact: Buffer;
    let payload: Buffer;

    const auth = () => ({ authorization: `Bearer ${token}` });
    const upload = (content: Buffer, fields: Record<string, string> = {}) => {
      const body = multipart(fields, { field: 'artifact', filename: 'a.mender', content });
      return t.app.inject({ method: 'POST', url: A, payload: body.payload, headers: { ...auth(), ...body.headers } });
    };
    const list = async () => JSON.parse((await t.app.inject({ method: 'GET', url: A, headers: auth() })).body);

    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
      work = mkdtempSync(join(tmpdir(), 'flotilla-art-'));
      payload = Buffer.from('hello from a single file update\n'.repeat(100));
      writeFileSync(join(work, 'app.conf'), payload);
      writeFileSync(join(work, 'rootfs.ext4'), Buffer.alloc(64 * 1024, 7));
      moduleArtifact = mender(work, 'module', [
        'module-image',
        '-T',
        'single-file',
        '-n',
        'app-1.0',
        '-t',
        'raspberrypi4',
        '-t',
        'beaglebone',
        '-f',
        join(work, 'app.conf'),
        '--provides',
        'app.version:1.0',
        '--depends',
        'os:bookworm',
        '--clears-provides',
        'app.*',
        '--compression',
        'gzip',
      ]);
      rootfsArtifact = mender(work, 'rootfs', [
        'rootfs-image',
        '-n',
        'os-2.0',
        '-t',
        'raspberrypi4',
        '-f',
        join(work, 'rootfs.ext4'),
        '--compression',
        'none',
      ]);
    });
    after(async () => {
      await t.close();
      rmSync(work, { recursive: true, force: true });
    });

    it('uploads a module artifact and shows the metadata mender-artifact wrote', async () => {
      const res = await upload(moduleArtifact, { description: 'first build' });
      assert.equal(res.statusCode, 201, res.body);
      const location = res.headers.location as string;
      assert.match(location, new RegExp(`^${A}/[0-9a-f-]{36}$`));
      const shown = JSON.parse((await t.app.inject({ method: 'GET', url: location, headers: auth() })).body);
      assert.equal(shown.name, 'app-1.0');
      assert.equal(shown.description, 'first build');
      assert.deepEqual([...shown.device_types_compatible].sort(), ['beaglebone', 'raspberrypi4']);
      assert.deepEqual(shown.info, { format: 'mender', version: 3 });
      assert.equal(shown.signed, false);
      assert.equal(shown.size, moduleArtifact.length);
      assert.equal(shown.artifact_provides['app.version'], '1.0');
      assert.equal(shown.artifact_provides.artifact_name, 'app-1.0');
      assert.deepEqual(shown.artifact_depends.os, ['bookworm']);
      assert.deepEqual([...shown.artifact_depends.device_type].sort(), ['beaglebone', 'raspberrypi4']);
      assert.ok(shown.clears_artifact_provides.includes('app.*'));
      assert.equal(shown.updates.length, 1);
      assert.equal(shown.updates[0].type_info.type, 'single-file');
      assert.equal(shown.updates[0].files[0].name, 'app.conf');
      assert.equal(shown.updates[0].files[0].size, payload.length);
      const sha = execFileSync('sha256sum', [join(work, 'app.conf')])
        .toString()
        .split(' ')[0];
      assert.equal(shown.updates[0].files[0].checksum, sha);
    });

    it('reports every artifact the way mender-artifact read does, field by field', async () => {
      const ecKey = join(work, 'cmp-ec.key');
      execFileSync('openssl', ['ecparam', '-genkey', '-name', 'prime256v1', '-noout', '-out', ecKey], {
        stdio: 'pipe',
      });
      writeFileSync(join(work, 'second.txt'), 'a second payload file\n');
      const variants: [string, string[]][] = [
        [
          'cmp-rootfs',
          [
            'rootfs-image',
            '-n',
            'cmp-rootfs',
            '-t',
            'qemux86-64',
            '-f',
            join(work, 'rootfs.ext4'),
            '--compression',
            'lzma',
            '--provides',
            'rootfs-image.checksum:abc',
          ],
        ],
        [
          'cmp-module',
          [
            'module-image',
            '-T',
            'script',
            '-n',
            'cmp-module',
            '-t',
            'a',
            '-t',
            'b',
            '-f',
            join(work, 'app.conf'),
            '-f',
            join(work, 'second.txt'),
            '--depends',
            'os:bookworm',
            '--clears-provides',
            'script.*',
            '--compression',
            'none',
          ],
        ],
        [
          'cmp-signed',
          [
            'module-image',
            '-T',
            'single-file',
            '-n',
            'cmp-signed',
            '-t',
            'a',
            '-f',
            join(work, 'app.conf'),
            '-k',
            ecKey,
          ],
        ],
      ];
      for (const [name, args] of variants) {
        const bytes = mender(work, name, args);
        const tool = menderArtifactRead(join(work, `${name}.mender`));
        // The parse of the tool's output must have found something, or the comparison below proves nothing.
        assert.equal(tool.name, name);
        assert.ok(
          tool.updates.length >= 1 && tool.updates[0].files.length >= 1,
          `${name}: parsed ${JSON.stringify(tool)}`,
        );
        assert.ok(Object.keys(tool.updates[0].provides).length >= 1, `${name}: no provides parsed`);
        assert.equal(tool.signed, name === 'cmp-signed');
        const res = await upload(bytes);
        assert.equal(res.statusCode, 201, `${name}: ${res.body}`);
        const api = JSON.parse(
          (await t.app.inject({ method: 'GET', url: res.headers.location as string, headers: auth() })).body,
        );
        assert.equal(api.name, tool.name, name);
        assert.deepEqual(api.info, { format: tool.format, version: tool.version }, name);
        assert.equal(api.signed, tool.signed, name);
        assert.deepEqual([...api.device_types_compatible].sort(), [...tool.deviceTypes].sort(), name);
        assert.equal(api.updates.length, tool.updates.length, name);
        for (const [i, update] of tool.updates.entries()) {
          assert.equal(api.updates[i].type_info.type, update.type, name);
          assert.deepEqual(
            api.updates[i].files.map((f: { name: string; size: number; checksum: string }) => ({
              name: f.name,
              size: f.size,
              checksum: f.checksum,
            })),
            update.files,
            name,
          );
          for (const [key, value] of Object.entries(update.provides))
            assert.equal(api.artifact_provides[key], value, `${name} provides ${key}`);
          for (const [key, value] of Object.entries(update.depends))
            assert.deepEqual(api.artifact_depends[key], [value], `${name} depends ${key}`);
          for (const pattern of update.clearsProvides)
            assert.ok(api.clears_artifact_provides.includes(pattern), `${name} clears ${pattern}`);
        }
        assert.equal(
          (await t.app.inject({ method: 'DELETE', url: res.headers.location as string, headers: auth() })).statusCode,
          204,
        );
      }
    });

    it('refuses a second artifact with the same name and depends for an overlapping device type', async () => {
      const res = await upload(moduleArtifact);
      assert.equal(res.statusCode, 409);
      assert.equal(JSON.parse(res.body).error, 'an artifact with the same name and depends already exists');
      assert.ok(JSON.parse(res.body).request_id);
      assert.equal((await list()).length, 1);
    });

    it('lists with filters, paging headers and sorting', async () => {
      assert.equal((await upload(rootfsArtifact)).statusCode, 201);
      const page = await t.app.inject({ method: 'GET', url: `${A}/list?per_page=1&sort=name:desc`, headers: auth() });
      assert.equal(page.statusCode, 200);
      assert.equal(page.headers['x-total-count'], '2');
      assert.match(String(page.headers.link), /rel="next"/);
      assert.equal(JSON.parse(page.body)[0].name, 'os-2.0');
      const byType = await t.app.inject({ method: 'GET', url: `${A}/list?device_type=beagle`, headers: auth() });
      assert.deepEqual(
        JSON.parse(byType.body).map((a: { name: string }) => a.name),
        ['app-1.0'],
      );
      const v2 = await t.app.inject({
        method: 'GET',
        url: '/api/management/v2/deployments/artifacts?name=os*',
        headers: auth(),
      });
      assert.deepEqual(
        JSON.parse(v2.body).map((a: { name: string }) => a.name),
        ['os-2.0'],
      );
      const bad = await t.app.inject({ method: 'GET', url: `${A}/list?per_page=501`, headers: auth() });
      assert.equal(bad.statusCode, 400);
    });

    it('serves a signed download link with ranges, and refuses a tampered one', async () => {
      const [artifact] = (await list()).filter((a: { name: string }) => a.name === 'app-1.0');
      const link = JSON.parse(
        (await t.app.inject({ method: 'GET', url: `${A}/${artifact.id}/download`, headers: auth() })).body,
      );
      assert.ok(new Date(link.expire).getTime() > Date.now());
      const url = new URL(link.uri);
      const whole = await t.app.inject({ method: 'GET', url: url.pathname + url.search });
      assert.equal(whole.statusCode, 200);
      assert.ok(whole.rawPayload.equals(moduleArtifact));
      const part = await t.app.inject({
        method: 'GET',
        url: url.pathname + url.search,
        headers: { range: 'bytes=10-19' },
      });
      assert.equal(part.statusCode, 206);
      assert.equal(part.headers['content-range'], `bytes 10-19/${moduleArtifact.length}`);
      assert.ok(part.rawPayload.equals(moduleArtifact.subarray(10, 20)));
      // Not one byte range: ignored as RFC 9110 says, the whole artifact (hawkBit's DDI answers 416 instead).
      const several = await t.app.inject({
        method: 'GET',
        url: url.pathname + url.search,
        headers: { range: 'bytes=0-1,5-6' },
      });
      assert.equal(several.statusCode, 200);
      assert.ok(several.rawPayload.equals(moduleArtifact));
      const beyond = await t.app.inject({
        method: 'GET',
        url: url.pathname + url.search,
        headers: { range: `bytes=${moduleArtifact.length}-` },
      });
      assert.equal(beyond.statusCode, 416);
      assert.equal(beyond.headers['content-range'], `bytes */${moduleArtifact.length}`);
      const tampered = url.search.replace(/signature=[^&]+/, 'signature=AAAA');
      assert.equal((await t.app.inject({ method: 'GET', url: url.pathname + tampered })).statusCode, 403);
      const file = join(work, 'downloaded.mender');
      writeFileSync(file, whole.rawPayload);
      const read = execFileSync('mender-artifact', ['read', file]).toString();
      assert.match(read, /Name: app-1.0/);
    });

    it('edits the description and answers 404 for unknown artifacts', async () => {
      const [artifact] = (await list()).filter((a: { name: string }) => a.name === 'os-2.0');
      const put = await t.app.inject({
        method: 'PUT',
        url: `${A}/${artifact.id}`,
        headers: auth(),
        payload: { description: 'new' },
      });
      assert.equal(put.statusCode, 204);
      assert.equal(
        JSON.parse((await t.app.inject({ method: 'GET', url: `${A}/${artifact.id}`, headers: auth() })).body)
          .description,
        'new',
      );
      const missing = await t.app.inject({
        method: 'GET',
        url: `${A}/00000000-0000-0000-0000-000000000000`,
        headers: auth(),
      });
      assert.equal(missing.statusCode, 404);
      assert.equal(JSON.parse(missing.body).error, 'artifact not found');
    });

    it('refuses broken and hostile uploads with 400, storing nothing and leaving no temporary', async () => {
      const before = (await list()).length;
      const objects = objectsUnder(join(t.config.dataDir, 'blobs', 'objects')).length;
      const cases: [string, Buffer][] = [
        ['truncated', moduleArtifact.subarray(0, Math.floor(moduleArtifact.length / 2))],
        ['random bytes', Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 251))],
        ['empty', Buffer.alloc(0)],
        [
          'flipped payload byte',
          (() => {
            const b = Buffer.from(rootfsArtifact);
            b[b.length - 2048] ^= 0xff;
            return b;
          })(),
        ],
      ];
      for (const [label, content] of cases) {
        const res = await upload(content);
        assert.equal(res.statusCode, 400, `${label}: ${res.body}`);
        assert.ok(JSON.parse(res.body).error, label);
      }
      const noFile = multipart({ description: 'x' });
      const res = await t.app.inject({
        method: 'POST',
        url: A,
        payload: noFile.payload,
        headers: { ...auth(), ...noFile.headers },
      });
      assert.equal(res.statusCode, 400);
      assert.equal((await list()).length, before);
      assert.equal(objectsUnder(join(t.config.dataDir, 'blobs', 'objects')).length, objects);
      assert.deepEqual(objectsUnder(join(t.config.dataDir, 'blobs', 'tmp')), []);
    });

    it('enforces the tenant storage limit and reports usage', async () => {
      const usage = JSON.parse(
        (await t.app.inject({ method: 'GET', url: '/api/management/v1/deployments/limits/storage', headers: auth() }))
          .body,
      );
      assert.equal(usage.limit, 0);
      assert.equal(usage.usage, moduleArtifact.length + rootfsArtifact.length);
      await t.services.tenants.setStorageLimit(t.tenant.id, usage.usage + 100);
      const another = mender(work, 'another', [
        'module-image',
        '-T',
        'single-file',
        '-n',
        'app-2.0',
        '-t',
        'x',
        '-f',
        join(work, 'app.conf'),
      ]);
      const res = await upload(another);
      assert.equal(res.statusCode, 400);
      assert.equal(JSON.parse(res.body).error, 'artifact storage limit exceeded');
      await t.services.tenants.setStorageLimit(t.tenant.id, 0);
    });

    it('groups artifacts into releases with notes and tags', async () => {
      const v2 = '/api/management/v2/deployments';
      const tags = await t.app.inject({
        method: 'PUT',
        url: `${v2}/deployments/releases/app-1.0/tags`,
        headers: auth(),
        payload: ['Stable', 'lts'],
      });
      assert.equal(tags.statusCode, 204, tags.body);
      const notes = await t.app.inject({
        method: 'PATCH',
        url: `${v2}/deployments/releases/app-1.0`,
        headers: auth(),
        payload: { notes: 'fixes' },
      });
      assert.equal(notes.statusCode, 204);
      const release = JSON.parse(
        (await t.app.inject({ method: 'GET', url: `${v2}/deployments/releases/app-1.0`, headers: auth() })).body,
      );
      assert.equal(release.name, 'app-1.0');
      assert.equal(release.notes, 'fixes');
      assert.deepEqual(release.tags, ['lts', 'stable']);
      assert.equal(release.artifacts.length, 1);
      const byTag = JSON.parse(
        (await t.app.inject({ method: 'GET', url: `${v2}/deployments/releases?tag=lts`, headers: auth() })).body,
      );
      assert.deepEqual(
        byTag.map((r: { name: string }) => r.name),
        ['app-1.0'],
      );
      const types = JSON.parse(
        (await t.app.inject({ method: 'GET', url: `${v2}/releases/all/types`, headers: auth() })).body,
      );
      assert.deepEqual(types, ['rootfs-image', 'single-file']);
      const v1 = JSON.parse(
        (
          await t.app.inject({
            method: 'GET',
            url: '/api/management/v1/deployments/deployments/releases?name=os',
            headers: auth(),
          })
        ).body,
      );
      assert.equal(v1[0].Name, 'os-2.0');
      assert.equal(v1[0].Artifacts.length, 1);
      const tooMany = await t.app.inject({
        method: 'PUT',
        url: `${v2}/deployments/releases/app-1.0/tags`,
        headers: auth(),
        payload: Array.from({ length: 21 }, (_, i) => `t${i}`),
      });
      assert.equal(tooMany.statusCode, 400);
    });

    it('deletes an artifact with its blob, and its release with the last artifact', async () => {
      const [artifact] = (await list()).filter((a: { name: string }) => a.name === 'os-2.0');
      const objects = objectsUnder(join(t.config.dataDir, 'blobs', 'objects')).length;
      assert.equal(
        (await t.app.inject({ method: 'DELETE', url: `${A}/${artifact.id}`, headers: auth() })).statusCode,
        204,
      );
      assert.equal(objectsUnder(join(t.config.dataDir, 'blobs', 'objects')).length, objects - 1);
      const gone = await t.app.inject({
        method: 'GET',
        url: '/api/management/v2/deployments/deployments/releases/os-2.0',
        headers: auth(),
      });
      assert.equal(gone.statusCode, 404);
    });

    it('generates a single-file artifact from a raw file that mender-artifact reads, and refuses bad requests', async () => {
      const raw = Buffer.from('#!/bin/sh\necho generated\n');
      const generate = (fields: Record<string, string>) => {
        const body = multipart(fields, { field: 'file', filename: 'hello.sh', content: raw });
        return t.app.inject({
          method: 'POST',
          url: `${A}/generate`,
          payload: body.payload,
          headers: { ...auth(), ...body.headers },
        });
      };
      const res = await generate({
        name: 'hello-gen',
        description: 'made from a raw file',
        device_types_compatible: 'raspberrypi4,beaglebone',
        type: 'single_file',
        args: JSON.stringify({ dest_dir: '/usr/local/bin', filename: 'hello.sh' }),
      });
      assert.equal(res.statusCode, 201, res.body);
      const shown = JSON.parse(
        (await t.app.inject({ method: 'GET', url: res.headers.location as string, headers: auth() })).body,
      );
      assert.equal(shown.name, 'hello-gen');
      assert.equal(shown.description, 'made from a raw file');
      assert.deepEqual([...shown.device_types_compatible].sort(), ['beaglebone', 'raspberrypi4']);
      assert.equal(shown.updates[0].type_info.type, 'single-file');
      assert.deepEqual(shown.updates[0].files.map((f: { name: string }) => f.name).sort(), [
        'dest_dir',
        'filename',
        'hello.sh',
        'permissions',
      ]);
      const link = JSON.parse(
        (await t.app.inject({ method: 'GET', url: `${res.headers.location}/download`, headers: auth() })).body,
      );
      const url = new URL(link.uri);
      const file = join(work, 'generated.mender');
      writeFileSync(file, (await t.app.inject({ method: 'GET', url: url.pathname + url.search })).rawPayload);
      const read = execFileSync('mender-artifact', ['read', file]).toString();
      assert.match(read, /Name: hello-gen/);
      assert.match(read, /name: +hello\.sh/);
      const wrongType = await generate({ name: 'x', device_types_compatible: 'd', type: 'rootfs' });
      assert.equal(wrongType.statusCode, 400);
      const noTypes = await generate({ name: 'x', type: 'single_file' });
      assert.equal(noTypes.statusCode, 400);
      const badArgs = await generate({ name: 'x', device_types_compatible: 'd', type: 'single_file', args: '{nope' });
      assert.equal(badArgs.statusCode, 400);
    });

    it('with verification keys configured, accepts only artifacts signed by one of them', async () => {
      const key = join(work, 'sign.key');
      execFileSync('openssl', ['genrsa', '-traditional', '-out', key, '3072'], { stdio: 'pipe' });
      const publicKey = execFileSync('openssl', ['pkey', '-in', key, '-pubout']).toString();
      const unsigned = mender(work, 'to-sign', [
        'module-image',
        '-T',
        'single-file',
        '-n',
        'signed-1',
        '-t',
        'sig',
        '-f',
        join(work, 'app.conf'),
      ]);
      execFileSync(
        'mender-artifact',
        ['sign', '-k', key, '-o', join(work, 'signed.mender'), join(work, 'to-sign.mender')],
        { stdio: 'pipe' },
      );
      const signed = readFileSync(join(work, 'signed.mender'));
      const otherKey = join(work, 'other.key');
      execFileSync('openssl', ['ecparam', '-genkey', '-name', 'prime256v1', '-noout', '-out', otherKey], {
        stdio: 'pipe',
      });
      execFileSync(
        'mender-artifact',
        ['sign', '-k', otherKey, '-o', join(work, 'other-signed.mender'), join(work, 'to-sign.mender')],
        { stdio: 'pipe' },
      );
      await t.services.tenants.setArtifactKeys(t.tenant.id, [publicKey]);
      try {
        const noSignature = await upload(unsigned);
        assert.equal(noSignature.statusCode, 400);
        assert.match(JSON.parse(noSignature.body).error, /not signed/);
        const wrongKey = await upload(readFileSync(join(work, 'other-signed.mender')));
        assert.equal(wrongKey.statusCode, 400);
        assert.match(JSON.parse(wrongKey.body).error, /signature verification failed/);
        const good = await upload(signed);
        assert.equal(good.statusCode, 201, good.body);
        const shown = JSON.parse(
          (await t.app.inject({ method: 'GET', url: good.headers.location as string, headers: auth() })).body,
        );
        assert.equal(shown.signed, true);
      } finally {
        await t.services.tenants.setArtifactKeys(t.tenant.id, []);
      }
    });

    it('keeps tenants apart: another tenant sees none of these artifacts', async () => {
      const other = await t.services.tenants.create('other', 'OTHER');
      await t.services.users.create(other.id, 'someone@other.example', 'password-other');
      const login = await t.app.inject({
        method: 'POST',
        url: '/api/management/v1/useradm/auth/login',
        headers: { authorization: `Basic ${Buffer.from('someone@other.example:password-other').toString('base64')}` },
      });
      const otherAuth = { authorization: `Bearer ${login.body}` };
      const [artifact] = await list();
      assert.deepEqual(JSON.parse((await t.app.inject({ method: 'GET', url: A, headers: otherAuth })).body), []);
      assert.equal(
        (await t.app.inject({ method: 'GET', url: `${A}/${artifact.id}`, headers: otherAuth })).statusCode,
        404,
      );
      assert.equal(
        (await t.app.inject({ method: 'DELETE', url: `${A}/${artifact.id}`, headers: otherAuth })).statusCode,
        404,
      );
    });
  });
}
