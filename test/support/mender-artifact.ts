// Runs the real `mender-artifact read` and parses what it prints (3.9's text form), so tests can compare what
// Flotilla reports about an artifact with what the reference tool says, field by field.
import { execFileSync } from 'node:child_process';

export interface ToolView {
  name: string;
  format: string;
  version: number;
  signed: boolean;
  deviceTypes: string[];
  updates: {
    type: string;
    provides: Record<string, string>;
    depends: Record<string, string>;
    clearsProvides: string[];
    /** The header meta-data as JSON, when the tool prints any. */
    metaData?: unknown;
    files: { name: string; size: number; checksum: string }[];
  }[];
}

export function menderArtifactRead(file: string): ToolView {
  const text = execFileSync('mender-artifact', ['read', file], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  const field = (label: string) => new RegExp(`^  ${label}: ?(.*)$`, 'm').exec(text)?.[1] ?? '';
  const view: ToolView = {
    name: field('Name'),
    format: field('Format'),
    version: Number(field('Version')),
    signed: !/no signature/.test(field('Signature')),
    deviceTypes: field('Compatible devices')
      .replace(/^'\[|\]'$/g, '')
      .split(' ')
      .filter(Boolean),
    updates: [],
  };
  const updates = text.split(/^ {4}\d+:$/m).slice(1);
  for (const block of updates) {
    const map = (section: string) => {
      const match = new RegExp(`^ {4}${section}:\\n((?:\\t.*\\n)*)`, 'm').exec(block);
      const out: Record<string, string> = {};
      for (const line of (match?.[1] ?? '').split('\n').filter(Boolean)) {
        const [key, ...rest] = line.trim().split(': ');
        out[key] = rest.join(': ');
      }
      return out;
    };
    const clears = /^ {4}Clears Provides: (.*)$/m.exec(block)?.[1] ?? '[]';
    const files: ToolView['updates'][number]['files'] = [];
    for (const f of block.matchAll(/name: +(\S+)\n +size: +(\d+)\n(?: +modified: .*\n)? +checksum: +([0-9a-f]{64})/g)) {
      files.push({ name: f[1], size: Number(f[2]), checksum: f[3] });
    }
    const metaText = /^ {4}Metadata:\n((?:\t.*\n)*)/m.exec(block)?.[1];
    view.updates.push({
      type: /^ {4}Type: +(\S+)$/m.exec(block)?.[1] ?? '',
      provides: map('Provides'),
      depends: map('Depends'),
      clearsProvides: clears === 'Nothing' ? [] : (JSON.parse(clears) as string[]),
      ...(metaText ? { metaData: JSON.parse(metaText.replace(/^\t/gm, '')) } : {}),
      files,
    });
  }
  return view;
}
