import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { readArtifact } from './reader.js';

/** Packs entries into a tar in memory, for crafting artifacts the real tool would never write. */
async function pack(
  entries: { name: string; body: Buffer; type?: 'file' | 'symlink' | 'directory'; size?: number }[],
): Promise<Buffer> {
  const p = tar.pack();
  const chunks: Buffer[] = [];
  p.on('data', (c) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve) => p.on('end', () => resolve()));
  for (const e of entries) {
    if (e.type === 'symlink') p.entry({ name: e.name, type: 'symlink', linkname: '/etc/passwd' });
    else p.entry({ name: e.name, type: e.type ?? 'file' }, e.body);
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const read = (bytes: Buffer, options = {}) => readArtifact(Readable.from([bytes]), options);

/** A well-formed v3 artifact built by hand, with hooks to break one part of it. */
async function craft(
  change: {
    /** How header and data are compressed (the tarball names follow). */
    compress?: { suffix: string; run: (b: Buffer) => Buffer };
    dataFiles?: { name: string; body: Buffer }[];
    dataTar?: Buffer;
    manifestExtra?: string;
    skipData?: boolean;
    headerInfo?: object;
  } = {},
): Promise<Buffer> {
  const files = change.dataFiles ?? [{ name: 'payload.bin', body: Buffer.from('payload bytes') }];
  const version = Buffer.from('{"format":"mender","version":3}');
  const headerInfo = Buffer.from(
    JSON.stringify(
      change.headerInfo ?? {
        payloads: [{ type: 'single-file' }],
        artifact_provides: { artifact_name: 'crafted' },
        artifact_depends: { device_type: ['dt'] },
      },
    ),
  );
  const typeInfo = Buffer.from(JSON.stringify({ type: 'single-file', artifact_provides: { 'x.version': '1' } }));
  const compress = change.compress ?? { suffix: '.gz', run: (b: Buffer) => gzipSync(b) };
  const header = compress.run(
    await pack([
      { name: 'header-info', body: headerInfo },
      { name: 'headers/0000/type-info', body: typeInfo },
    ]),
  );
  const data = change.dataTar ?? compress.run(await pack(files));
  const manifest = Buffer.from(
    `${[...files.map((f) => `${sha(f.body)}  data/0000/${f.name}`), `${sha(header)}  header.tar${compress.suffix}`, `${sha(version)}  version`].join('\n')}\n${change.manifestExtra ?? ''}`,
  );
  return pack([
    { name: 'version', body: version },
    { name: 'manifest', body: manifest },
    { name: `header.tar${compress.suffix}`, body: header },
    ...(change.skipData ? [] : [{ name: `data/0000.tar${compress.suffix}`, body: data }]),
  ]);
}

/** The manifest promises one payload; the data tar carries other bytes under the same name. */
async function craftWithTamperedPayload(): Promise<Buffer> {
  return craft({ dataTar: gzipSync(await pack([{ name: 'payload.bin', body: Buffer.from('other bytes!!') }])) });
}

describe('artifact reader', () => {
  let work: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'flotilla-reader-'));
    writeFileSync(join(work, 'a.txt'), 'first file\n');
    writeFileSync(join(work, 'b.bin'), Buffer.alloc(100_000, 3));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  const write = (name: string, args: string[]) => {
    const out = join(work, `${name}.mender`);
    execFileSync('mender-artifact', ['write', ...args, '-o', out], { stdio: 'pipe' });
    return out;
  };

  for (const compression of ['none', 'gzip', 'lzma']) {
    it(`reads what mender-artifact writes with ${compression} compression, checksums included`, async () => {
      const file = write(`c-${compression}`, [
        'module-image',
        '-T',
        'multi',
        '-n',
        `multi-${compression}`,
        '-t',
        'd1',
        '-t',
        'd2',
        '-f',
        join(work, 'a.txt'),
        '-f',
        join(work, 'b.bin'),
        '--compression',
        compression,
        '--provides',
        'multi.version:7',
        '--depends',
        'os:bookworm',
        '--clears-provides',
        'multi.*',
      ]);
      const info = await readArtifact(Readable.from([readFileSync(file)]));
      assert.equal(info.name, `multi-${compression}`);
      assert.equal(info.version, 3);
      assert.deepEqual(info.deviceTypes, ['d1', 'd2']);
      assert.equal(info.provides['multi.version'], '7');
      assert.deepEqual(info.depends.os, ['bookworm']);
      assert.ok(info.clearsProvides.includes('multi.*'));
      assert.equal(info.payloads[0].type, 'multi');
      assert.deepEqual(
        info.payloads[0].files.map((f) => [f.name, f.size, f.checksum]),
        [
          ['a.txt', 11, sha(readFileSync(join(work, 'a.txt')))],
          ['b.bin', 100_000, sha(readFileSync(join(work, 'b.bin')))],
        ],
      );
      assert.equal(info.signed, false);
    });
  }

  it('reads a version 2 rootfs-image artifact', async () => {
    const file = write('v2', ['rootfs-image', '-v', '2', '-n', 'old-format', '-t', 'd1', '-f', join(work, 'a.txt')]);
    const info = await read(readFileSync(file));
    assert.equal(info.version, 2);
    assert.equal(info.name, 'old-format');
    assert.deepEqual(info.deviceTypes, ['d1']);
    assert.equal(info.payloads[0].type, 'rootfs-image');
  });

  it('verifies RSA and ECDSA signatures made by mender-artifact, and refuses a wrong key or no signature', async () => {
    const unsigned = write('to-sign', [
      'module-image',
      '-T',
      'single-file',
      '-n',
      'signed',
      '-t',
      'd1',
      '-f',
      join(work, 'a.txt'),
    ]);
    const rsaKey = join(work, 'rsa.key');
    const ecKey = join(work, 'ec.key');
    execFileSync('openssl', ['genrsa', '-traditional', '-out', rsaKey, '3072'], { stdio: 'pipe' });
    execFileSync('openssl', ['ecparam', '-genkey', '-name', 'prime256v1', '-noout', '-out', ecKey], { stdio: 'pipe' });
    const publicOf = (key: string) => execFileSync('openssl', ['pkey', '-in', key, '-pubout']).toString();
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    for (const key of [rsaKey, ecKey]) {
      const signed = join(work, `signed-${key.endsWith('rsa.key') ? 'rsa' : 'ec'}.mender`);
      execFileSync('mender-artifact', ['sign', '-k', key, '-o', signed, unsigned], { stdio: 'pipe' });
      const bytes = readFileSync(signed);
      const info = await read(bytes, { verifyKeys: [publicOf(key)] });
      assert.equal(info.signed, true);
      assert.equal(info.verified, true);
      assert.equal((await read(bytes)).signed, true, 'recorded as signed without keys too');
      await assert.rejects(read(bytes, { verifyKeys: [other] }), /signature verification failed/);
    }
    await assert.rejects(read(readFileSync(unsigned), { verifyKeys: [publicOf(rsaKey)] }), /not signed/);
  });

  it('accepts a crafted artifact, so that the hostile variants below fail for their own reason', async () => {
    const info = await read(await craft());
    assert.equal(info.name, 'crafted');
    assert.equal(info.payloads[0].files[0].name, 'payload.bin');
  });

  it('refuses hostile and broken artifacts with a clear message', async () => {
    const good = await craft();
    const cases: [string, Buffer | Promise<Buffer>, RegExp][] = [
      [
        'truncated in the middle',
        good.subarray(0, good.length - 1500),
        /truncated|not a readable|payload|Unexpected end/i,
      ],
      [
        'not a tar at all',
        Buffer.from('this is plainly not an artifact, just some text'.repeat(30)),
        /not a Mender artifact|not a readable/,
      ],
      [
        'a tar without version first',
        pack([{ name: 'manifest', body: Buffer.from('x') }]),
        /first entry must be "version"/,
      ],
      ['empty input', Buffer.alloc(0), /truncated/],
      ['payload checksum mismatch', craftWithTamperedPayload(), /checksum mismatch/],
      [
        'corrupt compression',
        craft({ dataTar: Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(64, 0x55)]) }),
        /corrupt payload/,
      ],
      [
        'path traversal in the payload',
        craft({ dataFiles: [{ name: '../../etc/cron.d/evil', body: Buffer.from('x') }] }),
        /unsafe entry name/,
      ],
      [
        'absolute path in the payload',
        craft({ dataFiles: [{ name: '/etc/passwd', body: Buffer.from('x') }] }),
        /unsafe entry name|not a plain file/,
      ],
      [
        'a symlink in the outer tar',
        pack([{ name: 'version', body: Buffer.alloc(0), type: 'symlink' }]),
        /not a regular file/,
      ],
      [
        'manifest lists a file that never comes',
        craft({ manifestExtra: `${'0'.repeat(64)}  data/0000/ghost\n` }),
        /missing/,
      ],
      ['missing payload', craft({ skipData: true }), /payloads missing/],
      [
        'header without a name',
        craft({
          headerInfo: { payloads: [{ type: 'x' }], artifact_provides: {}, artifact_depends: { device_type: ['dt'] } },
        }),
        /no name/,
      ],
    ];
    for (const [label, input, expected] of cases) {
      await assert.rejects(
        read(await input),
        (error: Error) => {
          assert.match(error.message, expected, `${label}: ${error.message}`);
          assert.equal((error as { status?: number }).status, 400, label);
          return true;
        },
        label,
      );
    }
  });

  it('reads zstd-compressed header and payload (mender-artifact --compression zstd_*)', async () => {
    const zstd = { suffix: '.zst', run: (b: Buffer) => execFileSync('zstd', ['-q', '-c'], { input: b }) };
    const body = Buffer.alloc(200_000, 5);
    const info = await read(await craft({ compress: zstd, dataFiles: [{ name: 'z.bin', body }] }));
    assert.equal(info.name, 'crafted');
    assert.deepEqual(info.payloads[0].files, [{ name: 'z.bin', size: body.length, checksum: sha(body) }]);
    const corrupt = await craft({
      compress: zstd,
      dataTar: Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(40, 1)]),
    });
    await assert.rejects(read(corrupt), /corrupt (payload|zstd data)/);
  });

  it('refuses an entry whose tar header claims gigabytes, without waiting for or buffering them', async () => {
    const good = await craft();
    // Patch the size field of the second entry ("manifest", right after version's header and its one 512-byte
    // block) to 8 GiB, and fix the header checksum, as a hostile uploader would.
    const tampered = Buffer.from(good);
    const header = tampered.subarray(1024, 1536);
    assert.equal(header.subarray(0, 8).toString(), 'manifest');
    header.write(`${(8 * 1024 ** 3).toString(8).padStart(11, '0')}\0`, 124, 12, 'ascii');
    header.fill(' ', 148, 156);
    const sum = header.reduce((a, b) => a + b, 0);
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
    await assert.rejects(read(tampered), /manifest is larger than allowed|truncated|Unexpected end|not a readable/);
  });

  it('stops a decompression bomb at the payload cap without inflating it all', async () => {
    const bomb = Buffer.alloc(200 * 1024 * 1024);
    const artifact = await craft({ dataFiles: [{ name: 'zeros', body: bomb }] });
    assert.ok(artifact.length < 1024 * 1024, 'the bomb is small on the wire');
    await assert.rejects(read(artifact, { maxPayloadBytes: 16 * 1024 * 1024 }), /payload is larger than allowed/);
  });

  it('stops a header that inflates past the header cap', async () => {
    const hugeHeaderInfo = {
      payloads: [{ type: 'x' }],
      artifact_provides: { artifact_name: 'h', padding: 'p'.repeat(4 * 1024 * 1024) },
      artifact_depends: { device_type: ['dt'] },
    };
    await assert.rejects(
      read(await craft({ headerInfo: hugeHeaderInfo }), { maxHeaderBytes: 1024 * 1024 }),
      /larger than allowed/,
    );
  });
});
