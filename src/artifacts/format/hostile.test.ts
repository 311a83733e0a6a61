// Hostile input: every malformed artifact fails with an ArtifactError naming what is wrong, and the source stream
// is destroyed or drained, never left hanging. The bad artifacts are real ones from mender-artifact 3.9, corrupted.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ArtifactError, readArtifact } from './reader.js';
import { packTar, readBytes, rewriteManifest, type TarPart, tool, untar, Workdir } from './testing/mender-artifact.js';
import { endOfArchive, fileHeader, padding, smallTar } from './testing/tar-write.js';
import type { ReadOptions } from './types.js';

async function refused(bytes: Buffer, pattern: RegExp, options: ReadOptions = {}): Promise<void> {
  const source = Readable.from([bytes]);
  await assert.rejects(readArtifact(source, options), (error) => {
    assert.ok(error instanceof ArtifactError, `expected an ArtifactError, got ${error}`);
    assert.match((error as Error).message, pattern);
    return true;
  });
  assert.ok(source.destroyed || source.readableEnded, 'the source is destroyed or fully read');
}

const sha = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');
const part = (parts: TarPart[], name: string) => parts.find((p) => p.name === name)!;

describe('hostile artifacts', () => {
  const dir = new Workdir();
  const artifacts: Record<string, Buffer> = {};
  const payload = Buffer.alloc(20_000, 'payload ');

  before(() => {
    const file = dir.file('big.bin', payload);
    for (const compression of ['none', 'gzip', 'lzma']) {
      const path = dir.at(`${compression}.mender`);
      tool(
        'write',
        'module-image',
        '-n',
        'victim',
        '-t',
        'dt1',
        '-T',
        'app',
        '--compression',
        compression,
        '-f',
        file,
        '-o',
        path,
      );
      artifacts[compression] = readFileSync(path);
    }
  });
  after(() => dir.remove());

  /** The real gzip artifact, its parts changed by `edit`, repacked. */
  async function edited(compression: string, edit: (parts: TarPart[]) => TarPart[] | undefined): Promise<Buffer> {
    const parts = await untar(artifacts[compression]);
    return packTar(edit(parts) ?? parts);
  }

  describe('truncation', () => {
    for (const [where, fraction] of [
      ['in the manifest', 0.05],
      ['in the header', 0.2],
      ['in the payload', 0.6],
      ['before the end-of-archive marker', 0.99],
    ] as const) {
      it(`refuses an artifact cut ${where}`, async () => {
        const bytes = artifacts.none;
        await refused(bytes.subarray(0, Math.floor(bytes.length * fraction)), /truncated|ends before/);
      });
    }

    it('refuses an artifact cut at a tar block boundary right after the last entry', async () => {
      const bytes = artifacts.gzip;
      await refused(bytes.subarray(0, bytes.length - 1024), /truncated/);
    });

    it('refuses a compressed payload cut short', async () => {
      await refused(
        await edited('gzip', (parts) => {
          const data = part(parts, 'data/0000.tar.gz');
          data.body = data.body.subarray(0, data.body.length - 100);
        }),
        /corrupt gzip|truncated|unexpected end/i,
      );
    });
  });

  describe('checksums', () => {
    it('refuses a payload byte changed (uncompressed data)', async () => {
      const bytes = Buffer.from(artifacts.none);
      const info = await readBytes(bytes);
      bytes[info.updates[0].files[0].offset! + 10] ^= 0xff;
      await refused(bytes, /checksum mismatch for data\/0000\/big.bin/);
    });

    it('calls the sink abort, not end, when the checksum does not match', async () => {
      const bytes = Buffer.from(artifacts.none);
      const info = await readBytes(bytes);
      bytes[info.updates[0].files[0].offset! + 10] ^= 0xff;
      const calls: string[] = [];
      await assert.rejects(
        readBytes(bytes, {
          payloadSink: () => ({
            write: () => {},
            end: () => {
              calls.push('end');
            },
            abort: () => {
              calls.push('abort');
            },
          }),
        }),
        /checksum mismatch/,
      );
      assert.deepEqual(calls, ['abort']);
    });

    it('refuses a changed header', async () => {
      await refused(
        await edited('none', (parts) => {
          const header = part(parts, 'header.tar');
          header.body = Buffer.from(header.body);
          header.body[600] ^= 0x01;
        }),
        /checksum mismatch for header.tar/,
      );
    });

    it('refuses a changed version', async () => {
      await refused(
        await edited('gzip', (parts) => {
          part(parts, 'version').body = Buffer.from('{"format":"mender", "version":3}');
        }),
        /checksum mismatch for version/,
      );
    });

    it('refuses a payload file the manifest does not list', async () => {
      await refused(
        await edited('gzip', (parts) => {
          const manifest = part(parts, 'manifest');
          manifest.body = Buffer.from(
            manifest.body
              .toString()
              .split('\n')
              .filter((line) => !line.endsWith('data/0000/big.bin'))
              .join('\n'),
          );
        }),
        /data\/0000\/big.bin is not listed in the manifest/,
      );
    });

    it('refuses an artifact lacking a file the manifest lists', async () => {
      await refused(
        await edited('gzip', (parts) => {
          const manifest = part(parts, 'manifest');
          manifest.body = Buffer.concat([
            manifest.body,
            Buffer.from(`${sha(Buffer.from('x'))}  data/0000/ghost.bin\n`),
          ]);
        }),
        /lists data\/0000\/ghost.bin, which the artifact lacks/,
      );
    });

    it('refuses a malformed manifest line', async () => {
      await refused(
        await edited('gzip', (parts) => {
          part(parts, 'manifest').body = Buffer.from('not a manifest\n');
        }),
        /manifest has a malformed line/,
      );
    });
  });

  describe('corrupt compression', () => {
    for (const [compression, name] of [
      ['gzip', 'data/0000.tar.gz'],
      ['lzma', 'data/0000.tar.xz'],
      ['gzip', 'header.tar.gz'],
    ] as const) {
      it(`refuses flipped bytes in ${name}`, async () => {
        // The manifest does not list data tarballs themselves, only their files: corruption shows in decompression.
        await refused(
          await edited(compression, (parts) => {
            const target = part(parts, name);
            target.body = Buffer.from(target.body);
            for (let i = 20; i < target.body.length - 20; i += 97) target.body[i] ^= 0x5a;
            if (name.startsWith('header')) {
              const manifest = part(parts, 'manifest');
              manifest.body = rewriteManifest(manifest.body, { [name]: target.body });
            }
          }),
          /corrupt (gzip|xz)|checksum mismatch|tar/,
        );
      });
    }

    it('refuses corrupt zstd data', async () => {
      const parts = await untar(artifacts.none);
      const data = execFileSync('zstd', ['-q', '-c'], { input: part(parts, 'data/0000.tar').body });
      for (let i = 20; i < data.length - 10; i += 50) data[i] ^= 0x5a;
      const rebuilt = parts.map((p) => (p.name === 'data/0000.tar' ? { name: 'data/0000.tar.zst', body: data } : p));
      await refused(await packTar(rebuilt), /corrupt zstd|checksum mismatch|tar/);
    });
  });

  describe('structure', () => {
    it('refuses a missing data tarball', async () => {
      await refused(
        await edited('gzip', (parts) => parts.filter((p) => p.name !== 'data/0000.tar.gz')),
        /ends before data\/0000.tar/,
      );
    });

    it('refuses a missing manifest', async () => {
      await refused(
        await edited('gzip', (parts) => parts.filter((p) => p.name !== 'manifest')),
        /expected manifest after version/,
      );
    });

    it('refuses a duplicated data tarball', async () => {
      await refused(
        await edited('gzip', (parts) => [...parts, part(parts, 'data/0000.tar.gz')]),
        /unexpected entry data\/0000.tar.gz after the last payload/,
      );
    });

    it('refuses a duplicated header', async () => {
      await refused(
        await edited('gzip', (parts) => [...parts.slice(0, 3), part(parts, 'header.tar.gz'), ...parts.slice(3)]),
        /expected data\/0000.tar\[.gz\|.xz\|.zst\], found header.tar.gz/,
      );
    });

    it('refuses entries out of order', async () => {
      await refused(
        await edited('gzip', (parts) => [parts[0], parts[2], parts[1], parts[3]]),
        /expected manifest after version, found header.tar.gz/,
      );
    });

    it('refuses a payload under the wrong index', async () => {
      await refused(
        await edited('gzip', (parts) => {
          part(parts, 'data/0000.tar.gz').name = 'data/0001.tar.gz';
        }),
        /expected data\/0000.tar/,
      );
    });

    it('refuses a renamed header', async () => {
      await refused(
        await edited('gzip', (parts) => {
          part(parts, 'header.tar.gz').name = 'header.tgz';
        }),
        /expected header.tar\[.gz\|.xz\|.zst\], found header.tgz/,
      );
    });

    it('refuses data after the end of the artifact', async () => {
      await refused(Buffer.concat([artifacts.gzip, Buffer.from('trailing garbage')]), /data after/);
    });

    it('refuses format version 1', async () => {
      await refused(
        await packTar([{ name: 'version', body: Buffer.from('{"format":"mender","version":1}') }]),
        /format version 1 is not supported/,
      );
    });
  });

  describe('names and entry types', () => {
    /** The real artifact with its data tarball replaced; the manifest lists the new files that it can name. */
    async function withDataTar(files: TarPart[]): Promise<Buffer> {
      const parts = await untar(artifacts.gzip);
      part(parts, 'data/0000.tar.gz').body = gzipSync(await packTar(files));
      const listable = files.filter((f) => !f.type && /^[\w.,-]+$/.test(f.name));
      const manifest = part(parts, 'manifest');
      manifest.body = rewriteManifest(
        manifest.body,
        Object.fromEntries(listable.map((f) => [`data/0000/${f.name}`, f.body])),
      );
      return packTar(parts);
    }

    for (const name of ['../x', '/etc/passwd', 'sub/dir.bin', 'semi;colon']) {
      it(`refuses a payload file named ${name}`, async () => {
        await refused(await withDataTar([{ name, body: Buffer.from('x') }]), /only letters, digits/);
      });
    }

    for (const type of ['symlink', 'link', 'directory'] as const) {
      it(`refuses a ${type} in a data tarball`, async () => {
        await refused(
          await withDataTar([{ name: 'evil', body: Buffer.alloc(0), type, linkname: '/etc/passwd' }]),
          /is a (symlink|hardlink|directory), not a file/,
        );
      });
    }

    it('refuses a device entry in the artifact', async () => {
      await refused(
        await edited('gzip', (parts) => [
          ...parts.slice(0, 2),
          { name: 'dev', body: Buffer.alloc(0), type: 'character-device' },
          ...parts.slice(2),
        ]),
        /dev is a device, not a file/,
      );
    });

    it('refuses an artifact entry named with ..', async () => {
      await refused(
        await edited('gzip', (parts) => {
          part(parts, 'header.tar.gz').name = '../header.tar.gz';
        }),
        /unsafe name/,
      );
    });

    it('refuses a header entry outside the header layout', async () => {
      const header = gzipSync(
        smallTar(
          [
            {
              name: 'header-info',
              body: Buffer.from(
                '{"payloads":[{"type":"app"}],"artifact_provides":{"artifact_name":"x"},"artifact_depends":{"device_type":["dt1"]}}',
              ),
            },
            { name: 'headers/0000/../../etc/passwd', body: Buffer.from('x') },
          ],
          new Date(0),
        ),
      );
      await refused(
        await edited('gzip', (parts) => {
          part(parts, 'header.tar.gz').body = header;
          part(parts, 'manifest').body = rewriteManifest(part(parts, 'manifest').body, { 'header.tar.gz': header });
        }),
        /unsafe name/,
      );
    });
  });

  describe('sizes and bombs', () => {
    it('refuses a metadata part whose tar header claims a huge size, before reading it', async () => {
      const version = Buffer.from('{"format":"mender","version":3}');
      const bytes = Buffer.concat([
        fileHeader('version', version.length, new Date(0)),
        version,
        padding(version.length),
        fileHeader('manifest', 10 * 1024 ** 3, new Date(0)),
        Buffer.alloc(512),
      ]);
      await refused(bytes, /manifest is 10737418240 bytes, more than the 1048576 allowed/);
    });

    it('refuses a header that decompresses beyond its cap', async () => {
      const header = gzipSync(
        smallTar([{ name: 'header-info', body: Buffer.alloc(20 * 1024 * 1024, ' ') }], new Date(0)),
      );
      await refused(
        await edited('gzip', (parts) => {
          part(parts, 'header.tar.gz').body = header;
          part(parts, 'manifest').body = rewriteManifest(part(parts, 'manifest').body, { 'header.tar.gz': header });
        }),
        /header.tar.gz decompresses to more than/,
      );
    });

    /** A data tarball with one file of `size` zero bytes; its manifest line is right, so only the caps stop it. */
    async function bomb(size: number, compress: (tar: Buffer) => Buffer, suffix: string): Promise<Buffer> {
      const tar = Buffer.concat([
        fileHeader('big.bin', size, new Date(0)),
        Buffer.alloc(size),
        padding(size),
        endOfArchive(),
      ]);
      const parts = await untar(artifacts.gzip);
      const manifest = part(parts, 'manifest');
      manifest.body = rewriteManifest(manifest.body, { 'data/0000/big.bin': Buffer.alloc(size) });
      return packTar(
        parts.map((p) => (p.name === 'data/0000.tar.gz' ? { name: `data/0000.tar${suffix}`, body: compress(tar) } : p)),
      );
    }

    it('stops a 200 MiB gzip bomb at maxPayloadBytes', async () => {
      const bytes = await bomb(200 * 1024 * 1024, (tar) => gzipSync(tar), '.gz');
      assert.ok(bytes.length < 300 * 1024);
      await refused(bytes, /payloads are larger than the 67108864 bytes allowed/, {
        maxPayloadBytes: 64 * 1024 * 1024,
      });
    });

    it('stops an xz bomb by its compression ratio with default limits', async () => {
      const bytes = await bomb(
        100 * 1024 * 1024,
        (tar) => execFileSync('xz', ['-c', '-9'], { input: tar, maxBuffer: 1 << 30 }),
        '.xz',
      );
      await refused(bytes, /expands more than 1100 times/);
    });

    it('stops a zstd bomb by its compression ratio with default limits', async () => {
      const bytes = await bomb(
        100 * 1024 * 1024,
        (tar) => execFileSync('zstd', ['-q', '-c', '-19'], { input: tar, maxBuffer: 1 << 30 }),
        '.zst',
      );
      await refused(bytes, /expands more than 1100 times/);
    });
  });

  describe('not artifacts', () => {
    it('refuses random bytes', async () => {
      const random = Buffer.alloc(100_000);
      for (let i = 0; i < random.length; i++) random[i] = (i * 7919 + 13) % 251;
      await refused(random, /not a tar archive/);
    });

    it('refuses a plain tarball', async () => {
      await refused(await packTar([{ name: 'README', body: Buffer.from('hello') }]), /not a Mender artifact/);
    });

    it('refuses a gzip-compressed artifact (an artifact is a plain tar)', async () => {
      await refused(gzipSync(artifacts.gzip), /not a tar archive/);
    });

    it('refuses empty input', async () => {
      await refused(Buffer.alloc(0), /empty/);
    });

    it('refuses an artifact whose version is not JSON', async () => {
      await refused(await packTar([{ name: 'version', body: Buffer.from('mender 3') }]), /version is not valid JSON/);
    });

    it('passes a failing source stream error through and does not hang', async () => {
      const source = new Readable({ read() {} });
      source.push(artifacts.gzip.subarray(0, 3000));
      setImmediate(() => source.destroy(new Error('connection reset')));
      await assert.rejects(readArtifact(source), /connection reset/);
    });
  });
});
