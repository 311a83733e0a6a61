// Artifact downloads against the plainest stream of the same bytes, the same client reading both and throwing the
// bytes away: the signed link a Mender device is handed (Flotilla's blob stream on the folder store, the object
// store itself behind a presigned link on S3), and a hawkBit payload file (Flotilla's ranged read of the stored
// artifact on either store). Baselines: a bare Node `http` server streaming a file, an SDK-presigned GET of the
// object, or a bare Node server streaming the object through the SDK. The server's resident memory is sampled.
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { download } from './api.js';
import { cpuSeconds, MiB, median, progress, rssSampler, type Server, startNode } from './support.js';
import { S3_CLIENT, type S3Target, s3Env, withS3Client } from './upload.js';

export interface DownloadResult {
  sizeBytes: number;
  runs: number;
  baselineMiBps: number;
  downloadMiBps: number;
  ratio: number;
  /** CPU seconds per GiB of Flotilla's process and of the baseline's (when it is a process of ours), medians. */
  downloadCpuPerGiB: number;
  baselineCpuPerGiB?: number;
  /** The server's largest resident set sampled during its downloads. */
  serverPeakRssMiB: number;
}

/** A bare Node server streaming `bytes=0-(LENGTH-1)` of one object through the SDK at `/object`. */
const OBJECT_SERVER = `
import http from 'node:http';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
${S3_CLIENT}http.createServer(async (req, res) => {
  req.resume();
  if (req.url !== '/object') { res.end(); return; }
  const range = 'bytes=0-' + (Number(env.LENGTH) - 1);
  const answer = await client.send(new GetObjectCommand({ Bucket: env.S3_BUCKET, Key: env.S3_KEY_NAME, Range: range }));
  res.setHeader('content-type', 'application/octet-stream');
  res.setHeader('content-length', String(answer.ContentLength));
  answer.Body.pipe(res);
}).listen(Number(env.PORT), '127.0.0.1');`;

export async function startObjectServer(s3: S3Target, key: string, length: number): Promise<Server> {
  const env = { ...s3Env(s3), S3_KEY_NAME: key, LENGTH: String(length) };
  const server = await startNode(OBJECT_SERVER, env, 'bare object server', { module: true });
  return { ...server, url: `${server.url}/object` };
}

/** A GET of the object presigned by the SDK directly, no server of ours in between. */
export async function presignedObjectUrl(s3: S3Target, key: string): Promise<string> {
  return withS3Client(s3, (client) =>
    getSignedUrl(client, new GetObjectCommand({ Bucket: s3.bucket, Key: key }), { expiresIn: 3600 }),
  );
}

/** Fetches `ours` (with `headers`) and `baseline` in turns, `runs` times each after one untimed run of each. */
export async function benchDownload(
  what: string,
  server: Server,
  ours: { url: string; headers?: Record<string, string> },
  baseline: string,
  runs: number,
  baselineServer?: Server,
): Promise<DownloadResult> {
  progress(`download (${what}): ${runs} runs each side`);
  const rss = rssSampler(server.process.pid as number);
  const size = (await download(ours.url, ours.headers)).bytes;
  await download(baseline);
  const baselines: number[] = [];
  const downloads: number[] = [];
  const pid = server.process.pid as number;
  const basePid = baselineServer?.process.pid;
  const cpu: number[] = [];
  const baseCpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const baseStart = basePid ? cpuSeconds(basePid) : 0;
    const base = await download(baseline);
    if (basePid) baseCpu.push(cpuSeconds(basePid) - baseStart);
    rss.start();
    const start = cpuSeconds(pid);
    const mine = await download(ours.url, ours.headers);
    cpu.push(cpuSeconds(pid) - start);
    rss.stop();
    if (base.bytes !== size || mine.bytes !== size)
      throw new Error(`download sizes differ (${what}): ${base.bytes} ${mine.bytes}`);
    baselines.push(base.seconds);
    downloads.push(mine.seconds);
  }
  const baselineSeconds = median(baselines);
  const oursSeconds = median(downloads);
  return {
    sizeBytes: size,
    runs,
    baselineMiBps: size / MiB / baselineSeconds,
    downloadMiBps: size / MiB / oursSeconds,
    ratio: baselineSeconds / oursSeconds,
    downloadCpuPerGiB: median(cpu) / (size / 1024 / MiB),
    baselineCpuPerGiB: basePid ? median(baseCpu) / (size / 1024 / MiB) : undefined,
    serverPeakRssMiB: rss.max / MiB,
  };
}
