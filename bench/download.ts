// Artifact download: the signed download link a device is handed (whole artifact, no Range), against a bare Node
// `http` server streaming the same bytes from a file (fs.createReadStream piped into the response). The same
// client reads both and throws the bytes away; both files are in the page cache.
import { call, download } from './api.js';
import { MiB, median, progress, startFileServer } from './support.js';

export interface DownloadResult {
  sizeBytes: number;
  runs: number;
  baselineMiBps: number;
  downloadMiBps: number;
  ratio: number;
}

/** Downloads artifact `artifactId` of the server at `url` through its signed link, `runs` times each side. */
export async function benchDownload(
  url: string,
  token: string,
  artifactId: string,
  artifactFile: string,
  runs: number,
): Promise<DownloadResult> {
  const link = (await (
    await call(url, token, 'GET', `/api/management/v1/deployments/artifacts/${artifactId}/download`, 200)
  ).json()) as { uri: string };
  const files = await startFileServer(artifactFile);
  try {
    progress(`download: ${runs} runs each side`);
    // One untimed run of each: page cache and JIT.
    const size = (await download(link.uri)).bytes;
    await download(files.url);
    const baselines: number[] = [];
    const downloads: number[] = [];
    for (let i = 0; i < runs; i++) {
      const base = await download(files.url);
      const ours = await download(link.uri);
      if (base.bytes !== size || ours.bytes !== size)
        throw new Error(`download sizes differ: ${base.bytes} ${ours.bytes}`);
      baselines.push(base.seconds);
      downloads.push(ours.seconds);
    }
    const baseline = median(baselines);
    const ours = median(downloads);
    return {
      sizeBytes: size,
      runs,
      baselineMiBps: size / MiB / baseline,
      downloadMiBps: size / MiB / ours,
      ratio: baseline / ours,
    };
  } finally {
    await files.stop();
  }
}
