// Artifact upload throughput: a large rootfs-image artifact (made by the real mender-artifact) uploaded to Flotilla
// over HTTP, against a bare Node server that does the same physical work with the same request: receive, SHA-256,
// and write the bytes to the same kind of store (a file then fsync; or an S3 upload through the SDK in the same
// parts). That is the honest ceiling here (research/performance.md §3.1); a hash-only stream is not, since no
// upload can avoid the write. The server's resident memory is sampled all along.
import { execFileSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { call, uploadArtifact } from './api.js';
import { cpuSeconds, MiB, median, progress, rssSampler, type Server, startNode } from './support.js';

export interface UploadResult {
  sizeBytes: number;
  baselineRuns: number;
  uploadRuns: number;
  baselineMiBps: number;
  uploadMiBps: number;
  ratio: number;
  /** CPU seconds (user + system) per GiB of each server process: steadier than throughput on a busy machine. */
  baselineCpuPerGiB: number;
  uploadCpuPerGiB: number;
  /** The server's largest resident set sampled during the uploads, and before them (idle). */
  serverPeakRssMiB: number;
  serverIdleRssMiB: number;
}

/** Receive + SHA-256 + write + fsync, then 201: what the folder store's upload must do at the least. */
const FILE_UPLOAD_SERVER = `
const http = require('node:http');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
let n = 0;
http.createServer((req, res) => {
  if (req.method !== 'POST') { req.resume(); res.end(); return; }
  const file = require('node:path').join(process.env.DIR, 'upload-' + n++);
  const fd = fs.openSync(file, 'w');
  const out = fs.createWriteStream(null, { fd, autoClose: false, highWaterMark: 1024 * 1024 });
  const hash = createHash('sha256');
  req.on('data', (chunk) => {
    hash.update(chunk);
    if (!out.write(chunk)) { req.pause(); out.once('drain', () => req.resume()); }
  });
  req.on('end', () => out.end());
  out.on('finish', () => fs.fsync(fd, (error) => {
    fs.closeSync(fd);
    res.statusCode = error ? 500 : 201;
    res.end(hash.digest('hex'), () => fs.unlinkSync(file));
  }));
}).listen(Number(process.env.PORT), '127.0.0.1');`;

/** The bare S3 servers' client, from the variables of `s3Env`, configured as the S3 blob store's. */
export const S3_CLIENT = `
const env = process.env;
const client = new S3Client({
  endpoint: env.S3_ENDPOINT, region: env.S3_REGION, forcePathStyle: true,
  credentials: { accessKeyId: env.S3_KEY, secretAccessKey: env.S3_SECRET },
  requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED',
});
`;

/** Receive + SHA-256 + the SDK's multipart upload to S3 in the S3 store's parts (8 MiB, 4 in flight), then 201. */
const S3_UPLOAD_SERVER = `
import http from 'node:http';
import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { DeleteObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
${S3_CLIENT}const PART = 8 * 1024 * 1024;
let n = 0;
http.createServer((req, res) => {
  if (req.method !== 'POST') { req.resume(); res.end(); return; }
  const Key = 'baseline/' + n++;
  const body = new PassThrough({ highWaterMark: PART });
  const hash = createHash('sha256');
  req.on('data', (chunk) => hash.update(chunk));
  req.pipe(body);
  new Upload({ client, params: { Bucket: env.S3_BUCKET, Key, Body: body }, partSize: PART, queueSize: 4 }).done().then(
    () => {
      res.statusCode = 201;
      res.end(hash.digest('hex'), () => client.send(new DeleteObjectCommand({ Bucket: env.S3_BUCKET, Key })));
    },
    (error) => { res.statusCode = 500; res.end(String(error)); },
  );
}).listen(Number(env.PORT), '127.0.0.1');`;

export interface S3Target {
  endpoint: string;
  region: string;
  bucket: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
}

/** The bare upload server for a store: a data folder (`dir`) or an S3 bucket. */
export function startUploadBaseline(store: { dir: string } | { s3: S3Target }): Promise<Server> {
  if ('dir' in store) {
    mkdirSync(store.dir, { recursive: true });
    return startNode(FILE_UPLOAD_SERVER, { DIR: store.dir }, 'bare upload server');
  }
  return startNode(S3_UPLOAD_SERVER, s3Env(store.s3), 'bare S3 upload server', { module: true });
}

/** The environment of a bare S3 server (see S3_CLIENT). */
export function s3Env(s3: S3Target): Record<string, string> {
  return {
    S3_ENDPOINT: s3.endpoint,
    S3_REGION: s3.region,
    S3_BUCKET: s3.bucket,
    S3_KEY: s3.credentials.accessKeyId,
    S3_SECRET: s3.credentials.secretAccessKey,
  };
}

/** An SDK client for the bench's own calls to the store, destroyed after `use`. */
export async function withS3Client<T>(s3: S3Target, use: (client: S3Client) => Promise<T>): Promise<T> {
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: s3.credentials,
  });
  try {
    return await use(client);
  } finally {
    client.destroy();
  }
}

/** A rootfs-image artifact of `sizeMiB` MiB of random bytes, uncompressed, made by mender-artifact. */
export function makeArtifact(work: string, sizeMiB: number): string {
  mkdirSync(work, { recursive: true });
  const payload = join(work, 'rootfs.img');
  const artifact = join(work, 'big.mender');
  progress(`upload: making a ${sizeMiB} MiB artifact with mender-artifact`);
  execFileSync('dd', ['if=/dev/urandom', `of=${payload}`, 'bs=1M', `count=${sizeMiB}`, 'status=none']);
  execFileSync(
    'mender-artifact',
    ['write', 'rootfs-image', '-n', 'bench-1', '-t', 'bench', '-f', payload, '--compression', 'none', '-o', artifact],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  return artifact;
}

async function artifactIds(url: string, token: string): Promise<string[]> {
  const res = await call(url, token, 'GET', '/api/management/v1/deployments/artifacts', 200);
  return ((await res.json()) as { id: string }[]).map((a) => a.id);
}

/**
 * Uploads `artifact` to Flotilla (`server`, emptied of artifacts before each run) and to the bare `baseline`, taking
 * turns; medians of each. The last upload stays for the download benchmarks.
 */
export async function benchUpload(
  server: Server,
  token: string,
  baseline: Server,
  artifact: string,
  runs: { uploadRuns: number; baselineRuns: number },
): Promise<UploadResult> {
  const size = statSync(artifact).size;
  const pid = server.process.pid as number;
  const rss = rssSampler(pid);
  const idle = rss.current();
  progress(`upload: ${runs.baselineRuns} bare-server runs, ${runs.uploadRuns} uploads`);
  // One untimed run of the baseline: page cache, JIT, the S3 connection pool.
  await uploadArtifact(baseline.url, token, artifact);
  const baselines: number[] = [];
  const uploads: number[] = [];
  const baselineCpu: number[] = [];
  const uploadCpu: number[] = [];
  const basePid = baseline.process.pid as number;
  for (let i = 0; i < Math.max(runs.uploadRuns, runs.baselineRuns); i++) {
    if (i < runs.baselineRuns) {
      const cpu = cpuSeconds(basePid);
      baselines.push(await uploadArtifact(baseline.url, token, artifact));
      baselineCpu.push(cpuSeconds(basePid) - cpu);
    }
    if (i < runs.uploadRuns) {
      for (const id of await artifactIds(server.url, token)) {
        await call(server.url, token, 'DELETE', `/api/management/v1/deployments/artifacts/${id}`, 204);
      }
      rss.start();
      const cpu = cpuSeconds(pid);
      uploads.push(await uploadArtifact(server.url, token, artifact));
      uploadCpu.push(cpuSeconds(pid) - cpu);
      rss.stop();
    }
  }
  const gib = size / 1024 / MiB;
  const mib = size / MiB;
  const baselineSeconds = median(baselines);
  const uploadSeconds = median(uploads);
  return {
    sizeBytes: size,
    baselineRuns: runs.baselineRuns,
    uploadRuns: runs.uploadRuns,
    baselineMiBps: mib / baselineSeconds,
    uploadMiBps: mib / uploadSeconds,
    ratio: baselineSeconds / uploadSeconds,
    baselineCpuPerGiB: median(baselineCpu) / gib,
    uploadCpuPerGiB: median(uploadCpu) / gib,
    serverPeakRssMiB: Math.max(rss.max, idle) / MiB,
    serverIdleRssMiB: idle / MiB,
  };
}
