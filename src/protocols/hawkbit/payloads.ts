// hawkBit DDI software modules and payload files: an action's artifact as chunks (one per update, its payload files
// with md5/sha1/sha256, computed once by streaming and then stored), a module's files, and byte ranges of a file
// read out of the stored artifact.
import { createHash } from 'node:crypto';
import type { ArtifactView } from '../../artifacts/service.js';
import { NotFound } from '../../errors.js';
import type { Services } from '../../services.js';
import { DdiStore } from './store.js';
import type { DdiAction, DdiFileTable } from './tables.js';
import type { Target } from './target.js';

/** Payload files of Mender's single-file update module that describe the install, not the software. */
const SINGLE_FILE_META = new Set(['dest_dir', 'filename', 'permissions']);

export interface Chunk {
  part: string;
  version: string;
  name: string;
  moduleId: number;
  artifacts: DdiFileTable[];
}

export class DdiPayloads {
  constructor(private readonly services: Services) {}

  private store(tenantId: string): DdiStore {
    return new DdiStore(this.services.store.db, tenantId);
  }

  /** The chunks of an action's artifact: one per update, its payload files with size and hashes. */
  async chunks(target: Target, action: DdiAction): Promise<Chunk[]> {
    const artifact = await this.services.artifacts.get(target.tenantId, action.artifact_id);
    const store = this.store(target.tenantId);
    const chunks: Chunk[] = [];
    for (const [index, update] of artifact.updates.entries()) {
      chunks.push({
        part: 'os',
        version: artifact.name,
        name: update.type_info.type ?? 'rootfs-image',
        moduleId: await store.moduleId(artifact.id, index),
        artifacts: await this.files(target.tenantId, artifact, index),
      });
    }
    return chunks;
  }

  /** Payload files DDI devices see, with md5/sha1/sha256 (computed once by streaming the file, then stored). */
  private async files(tenantId: string, artifact: ArtifactView, index: number): Promise<DdiFileTable[]> {
    const store = this.store(tenantId);
    const update = artifact.updates[index];
    const wanted = update.files.filter(
      (f) => !(update.type_info.type === 'single-file' && SINGLE_FILE_META.has(f.name) && update.files.length > 1),
    );
    const known = new Map((await store.files(artifact.id, index)).map((f) => [f.file_name, f]));
    const out: DdiFileTable[] = [];
    for (const file of wanted) {
      let row = known.get(file.name);
      if (!row) {
        const stream = await this.services.artifacts.openPayloadFile(tenantId, artifact.id, index, file.name);
        const md5 = createHash('md5');
        const sha1 = createHash('sha1');
        const sha256 = createHash('sha256');
        let size = 0;
        for await (const chunk of stream) {
          const buffer = chunk as Buffer;
          size += buffer.length;
          md5.update(buffer);
          sha1.update(buffer);
          sha256.update(buffer);
        }
        row = {
          tenant_id: tenantId,
          artifact_id: artifact.id,
          update_index: index,
          file_name: file.name,
          size,
          md5: md5.digest('hex'),
          sha1: sha1.digest('hex'),
          sha256: sha256.digest('hex'),
        };
        await store.saveFile(row);
      }
      out.push({ ...row, size: Number(row.size) });
    }
    return out;
  }

  /** A software module's files, when the target was ever assigned its artifact. */
  async module(
    target: Target,
    moduleId: string,
  ): Promise<{ artifact: ArtifactView; index: number; files: DdiFileTable[] }> {
    if (!/^\d{1,15}$/.test(moduleId)) throw new NotFound('software module not found');
    const store = this.store(target.tenantId);
    const module = await store.module(Number(moduleId));
    if (!module || !(await store.assigned(target.row.device_id, module.artifact_id)))
      throw new NotFound('software module not found');
    const artifact = await this.services.artifacts.get(target.tenantId, module.artifact_id);
    return {
      artifact,
      index: module.update_index,
      files: await this.files(target.tenantId, artifact, module.update_index),
    };
  }

  /** One payload file's bytes from `start` to `end` (inclusive) for the answer, a ranged read of the stored artifact. */
  async fileSender(target: Target, artifactId: string, index: number, fileName: string, start: number, end: number) {
    return this.services.artifacts.payloadFileSender(target.tenantId, artifactId, index, fileName, { start, end });
  }
}
