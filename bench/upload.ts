// Artifact upload throughput: a large rootfs-image artifact (made by the real mender-artifact) uploaded to
// Flotilla over HTTP, as a ratio to a bare Node stream SHA-256 of the same file (the ceiling for our runtime: the
// upload must read, hash and write every byte at least once), plus the server's peak memory. The last upload
// stays for the download benchmark, which runs against the same server.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { call, login, uploadArtifact } from './api.js';
import { benchDownload, type DownloadResult } from './download.js';
import { MiB, median, peakRss, progress, startServer } from './support.js';

export interface UploadResult {
  sizeBytes: number;
  baselineRuns: number;
  uploadRuns: number;
  baselineMiBps: number;
  uploadMiBps: number;
  ratio: number;
  serverPeakRssMiB: number;
  serverIdleRssMiB: number;
}

export interface TransferSizes {
  sizeMiB: number;
  uploadRuns: number;
  baselineRuns: number;
  downloadRuns: number;
}

async function sha256Stream(file: string): Promise<number> {
  const start = process.hrtime.bigint();
  const hash = createHash('sha256');
  await pipeline(createReadStream(file, { highWaterMark: MiB }), hash);
  hash.digest('hex');
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function artifactIds(url: string, token: string): Promise<string[]> {
  const res = await call(url, token, 'GET', '/api/management/v1/deployments/artifacts', 200);
  return ((await res.json()) as { id: string }[]).map((a) => a.id);
}

export async function benchTransfer(
  work: string,
  sizes: TransferSizes,
): Promise<{ upload: UploadResult; download: DownloadResult }> {
  mkdirSync(work, { recursive: true });
  const payload = join(work, 'rootfs.img');
  const artifact = join(work, 'big.mender');
  progress(`upload: making a ${sizes.sizeMiB} MiB artifact with mender-artifact`);
  execFileSync('dd', ['if=/dev/urandom', `of=${payload}`, 'bs=1M', `count=${sizes.sizeMiB}`, 'status=none']);
  execFileSync(
    'mender-artifact',
    ['write', 'rootfs-image', '-n', 'bench-1', '-t', 'bench', '-f', payload, '--compression', 'none', '-o', artifact],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const size = statSync(artifact).size;

  const server = await startServer(join(work, 'data'), {
    FLOTILLA_ADMIN_EMAIL: 'bench@example.com',
    FLOTILLA_ADMIN_PASSWORD: 'bench-password',
    FLOTILLA_MAX_ARTIFACT_SIZE: String(Math.max(4 * 1024 * MiB, 2 * size)),
  });
  try {
    const token = await login(server.url, 'bench@example.com', 'bench-password');
    const idle = peakRss(server.process.pid!);
    // Medians of several runs: one sample of either is at the mercy of the page cache and the other core.
    progress(`upload: ${sizes.baselineRuns} SHA-256 runs, ${sizes.uploadRuns} uploads`);
    await sha256Stream(artifact);
    const baselines: number[] = [];
    for (let i = 0; i < sizes.baselineRuns; i++) baselines.push(await sha256Stream(artifact));
    const uploads: number[] = [];
    for (let i = 0; i < sizes.uploadRuns; i++) {
      for (const id of await artifactIds(server.url, token)) {
        await call(server.url, token, 'DELETE', `/api/management/v1/deployments/artifacts/${id}`, 204);
      }
      uploads.push(await uploadArtifact(server.url, token, artifact));
    }
    const peak = peakRss(server.process.pid!);
    const baseline = median(baselines);
    const uploadSeconds = median(uploads);
    const mib = size / MiB;
    const upload: UploadResult = {
      sizeBytes: size,
      baselineRuns: sizes.baselineRuns,
      uploadRuns: sizes.uploadRuns,
      baselineMiBps: mib / baseline,
      uploadMiBps: mib / uploadSeconds,
      ratio: baseline / uploadSeconds,
      serverPeakRssMiB: peak / MiB,
      serverIdleRssMiB: idle / MiB,
    };
    const [id] = await artifactIds(server.url, token);
    const download = await benchDownload(server.url, token, id, artifact, sizes.downloadRuns);
    return { upload, download };
  } finally {
    await server.stop();
  }
}
