// The manifest (and manifest-augment): one `sha256  name` line per file the artifact carries. The store marks each
// name when its bytes were checked, so that a file the manifest promises but the artifact lacks is caught at the end.
import { ArtifactError } from './errors.js';

interface Listed {
  checksum: string;
  /** Listed in manifest-augment, which the signature does not cover. */
  augment: boolean;
  seen: boolean;
}

/** Refuses names that could escape a folder or hide in one: absolute, `..`, empty parts, NUL, backslashes. */
export function safePath(name: string, what: string): string {
  if (
    name === '' ||
    name.startsWith('/') ||
    name.includes('\0') ||
    name.includes('\\') ||
    name.split('/').some((part) => part === '' || part === '.' || part === '..')
  ) {
    throw new ArtifactError(`${what} has an unsafe name ${JSON.stringify(name)}`);
  }
  return name;
}

export class ChecksumStore {
  private readonly listed = new Map<string, Listed>();

  add(text: Buffer, augment: boolean): void {
    const what = augment ? 'manifest-augment' : 'manifest';
    const lines = text.toString('utf8').split('\n');
    for (const line of lines) {
      if (line === '') continue;
      const match = /^([0-9a-fA-F]{64}) {2}(.+)$/.exec(line);
      if (!match) throw new ArtifactError(`${what} has a malformed line ${JSON.stringify(line.slice(0, 100))}`);
      const name = safePath(match[2], what);
      if (this.listed.has(name)) throw new ArtifactError(`${name} is listed twice in the manifests`);
      this.listed.set(name, { checksum: match[1].toLowerCase(), augment, seen: false });
    }
  }

  has(name: string): boolean {
    return this.listed.has(name);
  }

  isAugment(name: string): boolean {
    return this.listed.get(name)?.augment ?? false;
  }

  /** Checks a checksum computed over `name`'s bytes and marks it seen. */
  verify(name: string, actual: string, options: { signedOnly?: boolean } = {}): void {
    const entry = this.listed.get(name);
    if (!entry) throw new ArtifactError(`${name} is not listed in the manifest`);
    if (options.signedOnly && entry.augment)
      throw new ArtifactError(`${name} must be listed in the signed manifest, not in manifest-augment`);
    if (entry.seen) throw new ArtifactError(`${name} appears twice`);
    if (entry.checksum !== actual) throw new ArtifactError(`checksum mismatch for ${name}`);
    entry.seen = true;
  }

  /** Names listed but never seen. */
  missing(): string[] {
    return [...this.listed].filter(([, entry]) => !entry.seen).map(([name]) => name);
  }
}
