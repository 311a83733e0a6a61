// A small single-file module artifact in memory, written by Flotilla's own writer (no mender-artifact process):
// for tests that need valid artifact bytes quickly, many times.
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeModuleArtifact } from '../../src/artifacts/writer.js';

/** An artifact named `name` for `deviceType` whose one payload file holds `payloadBytes` random bytes. */
export async function moduleArtifactBytes(name: string, deviceType: string, payloadBytes: number): Promise<Buffer> {
  const payload = join(tmpdir(), `flotilla-artifact-${randomBytes(6).toString('hex')}.bin`);
  writeFileSync(payload, randomBytes(payloadBytes));
  try {
    const stream = await writeModuleArtifact({
      name,
      deviceTypes: [deviceType],
      type: 'single-file',
      files: [{ name: 'update.bin', path: payload }],
    });
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  } finally {
    rmSync(payload, { force: true });
  }
}
