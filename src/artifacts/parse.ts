// Adapts the streaming Mender artifact reader (./format) to what the artifact service records.
import type { Readable } from 'node:stream';
import { Invalid } from '../errors.js';
import type { ParsedArtifact } from './service.js';

export async function parseMenderArtifact(source: Readable): Promise<ParsedArtifact> {
  source.resume();
  throw new Invalid('artifact reader not wired yet');
}
