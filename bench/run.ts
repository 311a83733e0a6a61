// `npm run bench`: runs the benchmarks and writes their figures, each as a ratio to a baseline measured in the
// same run, to BENCHMARKS.md. BENCH_UPLOAD_MIB sets the artifact size (default 1024).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { machine } from './support.js';
import { benchUpload } from './upload.js';

const sizeMiB = Number(process.env.BENCH_UPLOAD_MIB ?? 1024);
const work = mkdtempSync(join(tmpdir(), 'flotilla-bench-'));
try {
  const up = await benchUpload(work, sizeMiB);
  const lines = [
    '# Benchmarks',
    '',
    `Written by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}. Machine: ${machine()}.`,
    'Each figure is a ratio to a baseline measured in the same run on the same machine.',
    '',
    '## Artifact upload',
    '',
    `A ${(up.sizeBytes / 1024 ** 3).toFixed(2)} GiB rootfs-image artifact (uncompressed, made by mender-artifact) uploaded`,
    'over HTTP (multipart) to `flotilla serve` on SQLite in a child process; it is parsed, every checksum verified and',
    'written to the blob folder while it streams. Baseline: a bare Node stream SHA-256 of the same file (warm cache).',
    'Figures are medians: the baseline of 3 runs, the upload of 2.',
    '',
    '| figure | value |',
    '|---|---|',
    `| baseline: Node stream SHA-256 | ${up.baselineMiBps.toFixed(0)} MiB/s |`,
    `| upload through Flotilla | ${up.uploadMiBps.toFixed(0)} MiB/s |`,
    `| **upload / baseline** | **${up.ratio.toFixed(2)}** |`,
    `| server peak RSS during upload | ${up.serverPeakRssMiB.toFixed(0)} MiB (idle before: ${up.serverIdleRssMiB.toFixed(0)} MiB) |`,
    `| peak RSS / artifact size | ${(up.serverPeakRssMiB / (up.sizeBytes / 1024 ** 2)).toFixed(3)} |`,
    '',
  ];
  writeFileSync('BENCHMARKS.md', lines.join('\n'));
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
