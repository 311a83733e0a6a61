// Test helpers around Debian's real `mender-artifact` 3.9: run it, parse what `mender-artifact read` prints, make
// signing keys it accepts, and take real artifacts apart and put them back together (to corrupt them on purpose).
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { readArtifact } from '../reader.js';
import type { ReadOptions } from '../types.js';

export function tool(...args: string[]): string {
  // TZ=UTC: `read` prints file times in local time.
  return execFileSync('mender-artifact', args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, TZ: 'UTC' },
  });
}

export class Workdir {
  readonly path = mkdtempSync(join(tmpdir(), 'flotilla-format-'));
  file(name: string, body: string | Buffer): string {
    const path = join(this.path, name);
    writeFileSync(path, body);
    return path;
  }
  at(name: string): string {
    return join(this.path, name);
  }
  remove(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

/** Key pairs in the encodings mender-artifact 3.9 signs with (PKCS#1 RSA, SEC1 EC) and verifies with (SPKI). */
export function signingKeys(dir: Workdir) {
  const rsa = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const ec = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    privateKeyEncoding: { type: 'sec1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const other = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    privateKeyEncoding: { type: 'sec1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return {
    rsa: { private: dir.file('rsa.key', rsa.privateKey), public: rsa.publicKey },
    ec: { private: dir.file('ec.key', ec.privateKey), public: ec.publicKey },
    otherPublic: other.publicKey,
  };
}

export interface ToolUpdate {
  type: string | null;
  provides: Record<string, string>;
  depends: Record<string, string>;
  clearsProvides: string[];
  metaData: unknown;
  files: { name: string; size: number; modified: string; checksum: string }[];
}

export interface ToolRead {
  name: string;
  format: string;
  version: number;
  signature: string;
  deviceTypes: string[];
  providesGroup?: string;
  dependsArtifacts?: string[];
  dependsGroups?: string[];
  scripts: string[];
  updates: ToolUpdate[];
}

const list = (text: string) => (text === '' ? [] : text.split(', '));

/** Parses the text `mender-artifact read` prints (3.9 has no JSON output). */
export function parseToolRead(text: string): ToolRead {
  const lines = text.split('\n');
  const result: ToolRead = {
    name: '',
    format: '',
    version: 0,
    signature: '',
    deviceTypes: [],
    scripts: [],
    updates: [],
  };
  let i = 0;
  const value = (line: string) => line.slice(line.indexOf(':') + 1).trim();
  for (; i < lines.length && lines[i] !== 'Updates:'; i++) {
    const line = lines[i];
    if (line.startsWith('  Name:')) result.name = value(line);
    else if (line.startsWith('  Format:')) result.format = value(line);
    else if (line.startsWith('  Version:')) result.version = Number(value(line));
    else if (line.startsWith('  Signature:')) result.signature = value(line);
    else if (line.startsWith('  Compatible devices:'))
      result.deviceTypes = value(line).replace(/^'\[/, '').replace(/\]'$/, '').split(' ').filter(Boolean);
    else if (line.startsWith('  Provides group:')) result.providesGroup = value(line);
    else if (line.startsWith('  Depends on one of artifact(s):'))
      result.dependsArtifacts = list(value(line).replace(/^\[/, '').replace(/\]$/, ''));
    else if (line.startsWith('  Depends on one of group(s):'))
      result.dependsGroups = list(value(line).replace(/^\[/, '').replace(/\]$/, ''));
    else if (line.startsWith('    ') && line.trim()) result.scripts.push(line.trim());
  }
  let update: ToolUpdate | undefined;
  let section = '';
  let json: string[] = [];
  const flushJson = () => {
    if (update && section === 'meta' && json.length) update.metaData = JSON.parse(json.join('\n'));
    json = [];
  };
  for (i++; i < lines.length; i++) {
    const line = lines[i];
    if (/^ {4}\d+:$/.test(line)) {
      flushJson();
      update = { type: null, provides: {}, depends: {}, clearsProvides: [], metaData: null, files: [] };
      result.updates.push(update);
      section = '';
      continue;
    }
    if (!update) continue;
    if (line.startsWith('\t')) {
      const text = line.slice(1);
      if (section === 'meta') json.push(text);
      else if (section === 'provides' || section === 'depends') {
        const at = text.indexOf(': ');
        update[section][text.slice(0, at)] = text.slice(at + 2);
      }
      continue;
    }
    const trimmed = line.trim();
    if (trimmed.startsWith('Type:')) {
      const type = value(trimmed);
      update.type = type === 'Empty type' ? null : type;
    } else if (trimmed.startsWith('Provides:')) section = 'provides';
    else if (trimmed.startsWith('Depends:')) section = 'depends';
    else if (trimmed.startsWith('Clears Provides:')) update.clearsProvides = JSON.parse(value(trimmed));
    else if (trimmed.startsWith('Metadata:')) section = 'meta';
    else if (trimmed.startsWith('Files:')) {
      flushJson();
      section = 'files';
    } else if (trimmed.startsWith('name:'))
      update.files.push({ name: value(trimmed), size: 0, modified: '', checksum: '' });
    else if (trimmed.startsWith('size:')) update.files.at(-1)!.size = Number(value(trimmed));
    else if (trimmed.startsWith('modified:')) update.files.at(-1)!.modified = trimmed.slice('modified:'.length).trim();
    else if (trimmed.startsWith('checksum:')) update.files.at(-1)!.checksum = value(trimmed);
  }
  flushJson();
  return result;
}

export function toolRead(path: string, key?: string): ToolRead {
  return parseToolRead(key ? tool('read', '--no-progress', '-k', key, path) : tool('read', '--no-progress', path));
}

export const readPath = (path: string, options: ReadOptions = {}) =>
  readArtifact(Readable.from(readFileSync(path)), options);
export const readBytes = (bytes: Buffer, options: ReadOptions = {}) =>
  readArtifact(Readable.from(chunks(bytes, 4096)), options);

/** Splits bytes into chunks, as a network would deliver them. */
export function* chunks(bytes: Buffer, size: number): Generator<Buffer> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

export const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

export interface TarPart {
  name: string;
  body: Buffer;
  type?: 'file' | 'symlink' | 'link' | 'directory' | 'character-device';
  linkname?: string;
}

/** Unpacks a tar in memory (test data is small), with tar-stream: an implementation independent of ours. */
export async function untar(bytes: Buffer): Promise<TarPart[]> {
  const extract = tar.extract();
  const parts: TarPart[] = [];
  const done = (async () => {
    for await (const entry of extract) {
      const body: Buffer[] = [];
      for await (const chunk of entry) body.push(chunk as Buffer);
      parts.push({ name: entry.header.name, body: Buffer.concat(body) });
    }
  })();
  extract.end(bytes);
  await done;
  return parts;
}

export async function packTar(parts: TarPart[]): Promise<Buffer> {
  const pack = tar.pack();
  const out: Buffer[] = [];
  pack.on('data', (chunk) => {
    out.push(chunk as Buffer);
  });
  const ended = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  for (const part of parts) {
    if (part.type && part.type !== 'file') pack.entry({ name: part.name, type: part.type, linkname: part.linkname });
    else pack.entry({ name: part.name, mode: 0o600, mtime: new Date(0) }, part.body);
  }
  pack.finalize();
  await ended;
  return Buffer.concat(out);
}

/** Rewrites the manifest lines for the given names with the checksums of their new bodies. */
export function rewriteManifest(manifest: Buffer, sums: Record<string, Buffer>): Buffer {
  const lines = manifest
    .toString()
    .split('\n')
    .filter(Boolean)
    .filter((line) => !(line.slice(66) in sums));
  for (const [name, body] of Object.entries(sums)) lines.push(`${sha256(body)}  ${name}`);
  return Buffer.from(`${lines.sort((a, b) => (a.slice(66) < b.slice(66) ? -1 : 1)).join('\n')}\n`);
}

export function zstd(bytes: Buffer): Buffer {
  return execFileSync('zstd', ['-q', '-c'], { input: bytes });
}
