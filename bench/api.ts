// The few management calls the benchmarks make, over plain HTTP as an operator's tool would.
import { createReadStream, createWriteStream, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { writeModuleArtifact } from '../src/artifacts/writer.js';
import { MiB } from './support.js';

export async function login(url: string, email: string, password: string): Promise<string> {
  const res = await fetch(`${url}/api/management/v1/useradm/auth/login`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}` },
  });
  if (res.status !== 200) throw new Error(`login: ${res.status} ${await res.text()}`);
  return res.text();
}

/** Calls the management API; throws unless the answer has the expected status. Returns the response. */
export async function call(
  url: string,
  token: string,
  method: string,
  path: string,
  expect: number,
  body?: unknown,
): Promise<Response> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status !== expect) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res;
}

/** Uploads an artifact file (multipart, streamed from disk); resolves with the seconds it took. */
export async function uploadArtifact(url: string, token: string, file: string): Promise<number> {
  const boundary = '----flotillabench';
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="description"\r\n\r\nbench\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="artifact"; filename="bench.mender"\r\n` +
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

/** Fetches `url` and throws the body away; resolves with the bytes received and the seconds it took. */
export function download(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ bytes: number; seconds: number }> {
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`download: ${res.statusCode}`));
        return;
      }
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      res.on('end', () => resolve({ bytes, seconds: Number(process.hrtime.bigint() - start) / 1e9 }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A small module-image artifact (one file of `bytes` bytes) for `deviceType`, written to `work`. */
export async function smallArtifact(work: string, name: string, deviceType: string, bytes = 4096): Promise<string> {
  const payload = join(work, `${name}.bin`);
  writeFileSync(payload, Buffer.alloc(bytes, 7));
  const out = join(work, `${name}.mender`);
  const artifact = await writeModuleArtifact({
    name,
    deviceTypes: [deviceType],
    type: 'single-file',
    files: [{ name: `${name}.bin`, path: payload }],
    workDir: work,
  });
  await pipeline(artifact, createWriteStream(out));
  return out;
}
