import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ArtifactError, readArtifact } from './reader.js';
import {
  chunks,
  packTar,
  readBytes,
  readPath,
  rewriteManifest,
  signingKeys,
  type ToolRead,
  tool,
  toolRead,
  untar,
  Workdir,
  zstd,
} from './testing/mender-artifact.js';
import type { ArtifactInfo } from './types.js';

/** Our reading must say what `mender-artifact read` says, field by field. */
function assertSameAsTool(ours: ArtifactInfo, theirs: ToolRead): void {
  assert.equal(ours.name, theirs.name);
  assert.equal(ours.format, theirs.format);
  assert.equal(ours.version, theirs.version);
  assert.deepEqual(ours.deviceTypes, theirs.deviceTypes);
  assert.equal(ours.signed, theirs.signature !== 'no signature');
  if (theirs.version === 3) {
    assert.equal(ours.provides.artifact_group ?? '', theirs.providesGroup);
    assert.deepEqual(ours.depends.artifact_name ?? [], theirs.dependsArtifacts);
    assert.deepEqual(ours.depends.artifact_group ?? [], theirs.dependsGroups);
  }
  assert.deepEqual([...ours.scripts].sort(), [...theirs.scripts].sort());
  assert.equal(ours.updates.length, theirs.updates.length);
  ours.updates.forEach((update, i) => {
    const tool = theirs.updates[i];
    assert.equal(update.type, tool.type);
    assert.deepEqual(update.provides, tool.provides);
    assert.deepEqual(update.depends, tool.depends);
    assert.deepEqual(update.clearsProvides, tool.clearsProvides);
    assert.deepEqual(update.metaData, tool.metaData);
    const byName = <T extends { name: string }>(files: T[]) => [...files].sort((a, b) => (a.name < b.name ? -1 : 1));
    assert.deepEqual(
      byName(update.files).map((f) => ({
        name: f.name,
        size: f.size,
        checksum: f.checksum,
        modified: `${f.date.slice(0, 10)} ${f.date.slice(11, 19)} +0000 UTC`,
      })),
      byName(tool.files),
    );
  });
}

describe('reading artifacts written by mender-artifact 3.9', () => {
  const dir = new Workdir();
  let keys: ReturnType<typeof signingKeys>;
  const artifacts: Record<string, string> = {};
  const payload = Buffer.alloc(70_000, 'payload ');

  before(() => {
    keys = signingKeys(dir);
    const big = dir.file('big.bin', payload);
    const small = dir.file('small.txt', 'hello\n');
    const meta = dir.file('meta.json', JSON.stringify({ dest: '/opt/app', nested: { list: [1, 2], on: true } }));
    const script = dir.file('ArtifactInstall_Enter_00', '#!/bin/sh\ntrue\n');
    const module = (name: string, compression: string, ...extra: string[]) => {
      artifacts[name] = dir.at(`${name}.mender`);
      tool(
        'write',
        'module-image',
        '-n',
        name,
        '-t',
        'dt1',
        '-t',
        'dt2',
        '-T',
        'app-module',
        '--compression',
        compression,
        '-o',
        artifacts[name],
        ...extra,
      );
    };
    for (const compression of ['none', 'gzip', 'lzma']) {
      module(`one-${compression}`, compression, '-f', big);
      module(
        `several-${compression}`,
        compression,
        '-f',
        big,
        '-f',
        small,
        '-m',
        meta,
        '-p',
        'app.version:2.1',
        '-p',
        'app.channel:beta',
        '-d',
        'app.base:1',
        '--clears-provides',
        'app.old.*',
      );
    }
    module('signed-rsa', 'gzip', '-f', small, '-k', keys.rsa.private);
    module('signed-ec', 'none', '-f', small, '-k', keys.ec.private);
    module(
      'augmented',
      'gzip',
      '-f',
      big,
      '-k',
      keys.rsa.private,
      '-p',
      'app.version:1',
      '--augment-file',
      small,
      '--augment-type',
      'app-module-v2',
      '--augment-provides',
      'app.extra:yes',
      '--augment-depends',
      'app.base:2',
      '--augment-meta-data',
      meta,
    );
    module('empty-files', 'gzip');
    artifacts.rootfs = dir.at('rootfs.mender');
    tool(
      'write',
      'rootfs-image',
      '-n',
      'rootfs',
      '-t',
      'dt1',
      '-f',
      big,
      '-o',
      artifacts.rootfs,
      '-N',
      'base-1',
      '-N',
      'base-2',
      '-g',
      'stable',
      '-G',
      'beta',
      '-G',
      'alpha',
      '-p',
      'os.flavour:mini',
      '-d',
      'os.base:3',
      '--clears-provides',
      'os.*',
      '-s',
      script,
      '--software-name',
      'os',
      '--software-version',
      '7',
    );
    artifacts.v2 = dir.at('v2.mender');
    tool('write', 'rootfs-image', '-v', '2', '-n', 'legacy', '-t', 'dt1', '-t', 'dt3', '-f', big, '-o', artifacts.v2);
    artifacts.bootstrap = dir.at('bootstrap.mender');
    tool('write', 'bootstrap-artifact', '-n', 'boot', '-t', 'dt1', '-o', artifacts.bootstrap);
    artifacts.unsigned = artifacts['one-gzip'];
  });
  after(() => dir.remove());

  for (const name of [
    'one-none',
    'one-gzip',
    'one-lzma',
    'several-none',
    'several-gzip',
    'several-lzma',
    'rootfs',
    'v2',
    'bootstrap',
    'empty-files',
  ]) {
    it(`reads ${name} as mender-artifact read does`, async () => {
      const ours = await readPath(artifacts[name]);
      assertSameAsTool(ours, toolRead(artifacts[name]));
      assert.equal(ours.size, readFileSync(artifacts[name]).length);
    });
  }

  it('reports the header-level fields and the combined view of a module image', async () => {
    const ours = await readPath(artifacts['several-gzip']);
    assert.equal(ours.headerCompression, 'gzip');
    assert.deepEqual(ours.provides, { artifact_name: 'several-gzip' });
    assert.deepEqual(ours.depends, { device_type: ['dt1', 'dt2'] });
    assert.deepEqual(ours.combined, {
      provides: {
        artifact_name: 'several-gzip',
        'app.version': '2.1',
        'app.channel': 'beta',
        'rootfs-image.app-module.version': 'several-gzip',
      },
      depends: { device_type: ['dt1', 'dt2'], 'app.base': ['1'] },
      clearsProvides: ['app.old.*', 'rootfs-image.app-module.*'],
    });
    assert.equal(ours.updates[0].compression, 'gzip');
    assert.ok(ours.updates[0].files.every((f) => f.offset === null));
  });

  it('reads groups, artifact depends and state scripts of a rootfs image', async () => {
    const ours = await readPath(artifacts.rootfs);
    assert.deepEqual(ours.provides, { artifact_name: 'rootfs', artifact_group: 'stable' });
    assert.deepEqual(ours.depends, {
      artifact_name: ['base-1', 'base-2'],
      device_type: ['dt1'],
      artifact_group: ['beta', 'alpha'],
    });
    assert.deepEqual(ours.scripts, ['ArtifactInstall_Enter_00']);
  });

  it('locates every payload file of an uncompressed data tarball by byte range', async () => {
    const bytes = readFileSync(artifacts['several-none']);
    const ours = await readPath(artifacts['several-none']);
    const files = ours.updates[0].files;
    assert.equal(files.length, 2);
    for (const file of files) {
      assert.notEqual(file.offset, null);
      const range = bytes.subarray(file.offset!, file.offset! + file.size);
      assert.equal(createHashHex(range), file.checksum);
    }
    assert.ok(bytes.subarray(files[0].offset!, files[0].offset! + files[0].size).equals(payload));
  });

  it('hands each payload file to a sink, ended only after its checksum matched', async () => {
    const received = new Map<string, Buffer[]>();
    const ended: string[] = [];
    await readPath(artifacts['several-lzma'], {
      payloadSink: (file) => {
        received.set(file.name, []);
        return {
          write: (chunk) => {
            received.get(file.name)!.push(Buffer.from(chunk));
          },
          end: () => {
            ended.push(file.name);
          },
        };
      },
    });
    assert.deepEqual(ended.sort(), ['big.bin', 'small.txt']);
    assert.ok(Buffer.concat(received.get('big.bin')!).equals(payload));
    assert.equal(Buffer.concat(received.get('small.txt')!).toString(), 'hello\n');
  });

  it('reads zstd-compressed headers and data (3.9 cannot write them: recompressed from a real artifact)', async () => {
    const parts = await untar(readFileSync(artifacts['several-none']));
    const header = zstd(parts.find((p) => p.name === 'header.tar')!.body);
    const data = zstd(parts.find((p) => p.name === 'data/0000.tar')!.body);
    const manifest = parts.find((p) => p.name === 'manifest')!;
    const rebuilt = await packTar([
      parts[0],
      { name: 'manifest', body: rewriteManifest(dropLine(manifest.body, 'header.tar'), { 'header.tar.zst': header }) },
      { name: 'header.tar.zst', body: header },
      { name: 'data/0000.tar.zst', body: data },
    ]);
    const ours = await readBytes(rebuilt);
    assert.equal(ours.headerCompression, 'zstd');
    assert.equal(ours.updates[0].compression, 'zstd');
    assertSameAsTool(ours, toolRead(artifacts['several-none']));
  });

  it('reads an augmented artifact: augment type, merged provides, depends and meta-data, augment files', async () => {
    const ours = await readPath(artifacts.augmented, { verifyKeys: [keys.rsa.public] });
    assertSameAsTool(ours, toolRead(artifacts.augmented, dir.file('rsa.pub', keys.rsa.public)));
    assert.equal(ours.augmented, true);
    assert.equal(ours.updates[0].type, 'app-module-v2');
    assert.deepEqual(
      ours.updates[0].files.map((f) => [f.name, f.augment]),
      [
        ['big.bin', false],
        ['small.txt', true],
      ],
    );
  });

  describe('signatures', () => {
    for (const [artifact, key] of [
      ['signed-rsa', 'rsa'],
      ['signed-ec', 'ec'],
    ] as const) {
      it(`verifies ${artifact} with the right key`, async () => {
        const ours = await readPath(artifacts[artifact], { verifyKeys: [keys.otherPublic, keys[key].public] });
        assert.equal(ours.signed, true);
        assert.equal(ours.verified, true);
        const theirs = toolRead(artifacts[artifact], dir.file(`${key}.pub`, keys[key].public));
        assert.equal(theirs.signature, 'signed and verified correctly');
        assertSameAsTool(ours, theirs);
      });

      it(`refuses ${artifact} with the wrong key`, async () => {
        const wrong = key === 'rsa' ? keys.ec.public : keys.rsa.public;
        await assert.rejects(readPath(artifacts[artifact], { verifyKeys: [wrong, keys.otherPublic] }), (error) => {
          assert.ok(error instanceof ArtifactError);
          assert.match(error.message, /signature verification failed/);
          return true;
        });
      });

      it(`reads ${artifact} as signed but unverified when no keys are given`, async () => {
        const ours = await readPath(artifacts[artifact]);
        assert.equal(ours.signed, true);
        assert.equal(ours.verified, false);
      });
    }

    it('verifies an artifact signed afterwards with mender-artifact sign (ECDSA)', async () => {
      const path = dir.at('signed-later.mender');
      tool('sign', '-k', keys.ec.private, '-o', path, artifacts['one-none']);
      const ours = await readPath(path, { verifyKeys: [keys.ec.public] });
      assert.equal(ours.verified, true);
      await assert.rejects(readPath(path, { verifyKeys: [keys.rsa.public] }), /signature verification failed/);
    });

    it('refuses an unsigned artifact when keys are required', async () => {
      await assert.rejects(readPath(artifacts.unsigned, { verifyKeys: [keys.rsa.public] }), (error) => {
        assert.ok(error instanceof ArtifactError);
        assert.match(error.message, /not signed/);
        return true;
      });
    });

    it('refuses a signed artifact whose manifest was changed after signing', async () => {
      const parts = await untar(readFileSync(artifacts['signed-rsa']));
      const manifest = parts.find((p) => p.name === 'manifest')!;
      manifest.body = Buffer.concat([manifest.body, Buffer.from(`${'0'.repeat(64)}  data/0000/extra\n`)]);
      await assert.rejects(
        readBytes(await packTar(parts), { verifyKeys: [keys.rsa.public] }),
        /signature verification failed/,
      );
    });
  });

  it('reads the same artifact whatever the chunking of the stream', async () => {
    const bytes = readFileSync(artifacts['several-gzip']);
    const expected = await readBytes(bytes);
    for (const size of [1, 511, 513, 65536]) {
      assert.deepEqual(await readArtifact(Readable.from(chunks(bytes, size))), expected);
    }
  });
});

function createHashHex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function dropLine(manifest: Buffer, name: string): Buffer {
  return Buffer.from(
    manifest
      .toString()
      .split('\n')
      .filter((line) => line && line.slice(66) !== name)
      .map((line) => `${line}\n`)
      .join(''),
  );
}
