// Non-Mender payloads (an SWUpdate `.swu`, a tarball) as ordinary Flotilla artifacts: the uploaded file becomes
// the single payload file of a module-image artifact (update module `type`, default `swupdate`) named by its
// version, so releases, deployments and Mender devices see an artifact like any other, and DDI devices get
// the original file name as their chunk artifact.

import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { AuditActor } from '../audit/service.js';
import { Invalid } from '../errors.js';
import type { ArtifactService, ArtifactView } from './service.js';
import { makeWorkFolder } from './work-folders.js';
import { writeModuleArtifact } from './writer.js';

export interface RawPayload {
  /** File name devices see (e.g. `update.swu`); a plain name. */
  fileName: string;
  /** The artifact name (= version, what `artifact_name` becomes on devices). */
  version: string;
  deviceTypes: string[];
  /** Update module type; `swupdate` unless given. */
  type?: string;
  description?: string;
}

const PLAIN = /^[A-Za-z0-9._+-]{1,255}$/;

export function checkRawPayload(input: RawPayload): void {
  if (!PLAIN.test(input.fileName) || input.fileName === '.' || input.fileName === '..')
    throw new Invalid('filename: must be a plain file name');
  if (!input.version || input.version.length > 256) throw new Invalid('version: cannot be blank');
  if (input.deviceTypes.length === 0 || input.deviceTypes.some((t) => !t || t.length > 256))
    throw new Invalid('device_types_compatible: cannot be blank');
  if (input.type !== undefined && !/^[A-Za-z0-9._-]{1,64}$/.test(input.type))
    throw new Invalid('type: letters, digits, . _ - only');
}

/** Streams the upload to a work folder, wraps it and stores the artifact (parsed and checked like any upload). */
export async function uploadRawPayload(
  artifacts: ArtifactService,
  tenantId: string,
  dataDir: string,
  input: RawPayload,
  body: Readable,
  actor?: AuditActor,
): Promise<ArtifactView> {
  checkRawPayload(input);
  const work = await makeWorkFolder(dataDir, 'raw');
  try {
    const path = join(work, 'payload');
    await pipeline(body, createWriteStream(path));
    const stream = await writeModuleArtifact({
      name: input.version,
      deviceTypes: input.deviceTypes,
      type: input.type ?? 'swupdate',
      files: [{ name: input.fileName, path }],
      workDir: work,
      // A .swu or tarball is compressed already; stored plain, DDI downloads are ranged reads of the artifact.
      compression: 'none',
    });
    return await artifacts.upload(tenantId, stream, input.description ?? '', undefined, actor);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
