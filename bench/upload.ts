// Artifact upload throughput: a 1 GiB artifact (made by the real mender-artifact) uploaded to Flotilla over
// HTTP, as a ratio to a bare Node stream SHA-256 of the same file (the ceiling for our runtime: the upload
// must read, hash and write every byte at least once), plus the server's peak memory.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { MiB, peakRss, startServer } from './support.js';

export interface UploadResult {
  sizeBytes: number;
  baselineMiBps: number;
  uploadMiBps: number;
  ratio: number;
  serverPeakRssMiB: number;
  serverIdleRssMiB: number;
}

async function sha256Stream(file: string): Promise<number> {
  const start = process.hrtime.bigint();
  const hash = createHash('sha256');
  await pipeline(createReadStream(file, { highWaterMark: MiB }), hash);
  hash.digest('hex');
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function uploadOnce(url: string, token: string, file: string): Promise<number> {
  const boundary = '----flotillabench';
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="description"\r\n\r\nbench\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="artifact"; filename="big.mender"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n',
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const size = statSync(file).size;
  const start = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    const req = request(
      `${url}/api/management/v1/deployments/artifacts`,
      {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': String(head.length + size + tail.length),
        },
      },
      (res) => {
        let body = '';
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () =>
          res.statusCode === 201 ? resolve() : reject(new Error(`upload: ${res.statusCode} ${body}`)),
        );
      },
    );
    req.on('error', reject);
    req.write(head);
    const stream = createReadStream(file, { highWaterMark: MiB });
    stream.on('data', (chunk) => {
      if (!req.write(chunk)) {
        stream.pause();
        req.once('drain', () => stream.resume());
      }
    });
    stream.on('end', () => req.end(tail));
    stream.on('error', reject);
  });
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function deleteAll(url: string, token: string): Promise<void> {
  const headers = { authorization: `Bearer ${token}` };
  const list = (await (await fetch(`${url}/api/management/v1/deployments/artifacts`, { headers })).json()) as {
    id: string;
  }[];
  for (const a of list)
    await fetch(`${url}/api/management/v1/deployments/artifacts/${a.id}`, { method: 'DELETE', headers });
}

export async function benchUpload(work: string, sizeMiB: number): Promise<UploadResult> {
  const payload = join(work, 'rootfs.img');
  const artifact = join(work, 'big.mender');
  execFileSync('dd', ['if=/dev/urandom', `of=${payload}`, 'bs=1M', `count=${sizeMiB}`, 'status=none']);
  execFileSync('mender-artifact', [
    'write',
    'rootfs-image',
    '-n',
    'bench-1',
    '-t',
    'bench',
    '-f',
    payload,
    '--compression',
    'none',
    '-o',
    artifact,
  ]);
  const size = statSync(artifact).size;

  const server = await startServer(join(work, 'data'), {
    FLOTILLA_ADMIN_EMAIL: 'bench@example.com',
    FLOTILLA_ADMIN_PASSWORD: 'bench-password',
    FLOTILLA_MAX_ARTIFACT_SIZE: String(4 * 1024 * MiB),
  });
  try {
    const login = await fetch(`${server.url}/api/management/v1/useradm/auth/login`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from('bench@example.com:bench-password').toString('base64')}` },
    });
    if (login.status !== 200) throw new Error(`login: ${login.status} ${await login.text()}`);
    const token = await login.text();
    const idle = peakRss(server.process.pid!);
    // Medians of several runs: one sample of either is at the mercy of the page cache and the other core.
    await sha256Stream(artifact);
    const baselines: number[] = [];
    for (let i = 0; i < 3; i++) baselines.push(await sha256Stream(artifact));
    const uploads: number[] = [];
    for (let i = 0; i < 2; i++) {
      uploads.push(await uploadOnce(server.url, token, artifact));
      await deleteAll(server.url, token);
    }
    const peak = peakRss(server.process.pid!);
    const baseline = median(baselines);
    const upload = median(uploads);
    const mib = size / MiB;
    return {
      sizeBytes: size,
      baselineMiBps: mib / baseline,
      uploadMiBps: mib / upload,
      ratio: baseline / upload,
      serverPeakRssMiB: peak / MiB,
      serverIdleRssMiB: idle / MiB,
    };
  } finally {
    await server.stop();
  }
}
