// Reads a V8 .cpuprofile (written by `node --cpu-prof`) and says where the main thread's time went: self time by
// category and the top self frames, over a window of the run (the profile's clock is CLOCK_MONOTONIC in µs, the
// same clock as process.hrtime in another process on the same machine, so the load's start and end can cut it).
//
// Categories are by the frame's script: a frame with no script (a builtin such as JSON.parse, a native binding
// such as a socket write) counts for the category of its caller, except the few named below. better-sqlite3's
// `all`/`run`/`get` are C++ callbacks that V8's profiler does not show as frames: their time is the self time of
// the JavaScript that calls them, Kysely's SQLite driver's `executeQuery`, which is therefore counted as SQLite
// execution (its own JavaScript is a few lines).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export const CATEGORIES = [
  'SQLite prepare',
  'SQLite execute',
  'pg driver',
  'Kysely build/compile',
  'JWT/crypto',
  'Fastify',
  'Node http/net',
  'socket write syscalls',
  'Node fs (artifact download)',
  'JSON',
  'GC',
  'pino',
  "Flotilla's src/",
  'V8/native, unattributed ((program))',
  'Node core, other (timers, promises, events)',
  'other',
] as const;
export type Category = (typeof CATEGORIES)[number];

export interface ProfileSummary {
  /** Seconds of the window the profile covers. */
  windowSeconds: number;
  /** Seconds the main thread was not idle in the window. */
  busySeconds: number;
  /** Busy seconds by category. */
  categories: Map<Category, number>;
  /** The frames with the most self time, busiest first: name, where, seconds, category. */
  top: { frame: string; where: string; seconds: number; category: Category }[];
}

const ROOT = resolve(import.meta.dirname, '..');

const SOCKET_WRITES = new Set([
  'writev',
  'writeBuffer',
  'writeUtf8String',
  'writeLatin1String',
  'writeAsciiString',
  'writeUcs2String',
]);

const FASTIFY = [
  'fastify',
  '@fastify/',
  'find-my-way',
  'avvio',
  'light-my-request',
  'fast-json-stringify',
  'ajv',
  'fast-uri',
  'toad-cache',
  'fastq',
  'rfdc',
  'fast-querystring',
  'proxy-addr',
  'process-warning',
  'abstract-logging',
  'content-type',
  'fast-decode-uri-component',
  'safe-regex2',
  'ret',
];
const PINO = [
  'pino',
  'sonic-boom',
  'thread-stream',
  'on-exit-leak-free',
  'quick-format-unescaped',
  'fast-redact',
  'safe-stable-stringify',
];

/** The package a node_modules path belongs to ('@scope/name' or 'name'), or undefined. */
function packageOf(url: string): string | undefined {
  const at = url.lastIndexOf('/node_modules/');
  if (at < 0) return undefined;
  const rest = url.slice(at + '/node_modules/'.length).split('/');
  return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
}

/** The category of a frame by its own script, or undefined when it has none (then its caller's counts). */
function ownCategory(frame: CallFrame): Category | undefined {
  const { functionName: name, url } = frame;
  if (name === '(garbage collector)') return 'GC';
  if (name === '(program)') return 'V8/native, unattributed ((program))';
  if (url === '') {
    if (SOCKET_WRITES.has(name)) return 'socket write syscalls';
    if (name === 'parse' || name === 'stringify') return 'JSON';
    return undefined;
  }
  const pkg = packageOf(url);
  if (pkg !== undefined) {
    if (pkg === 'better-sqlite3') return name === 'prepare' ? 'SQLite prepare' : 'SQLite execute';
    if (pkg === 'kysely') {
      return url.includes('/sqlite/sqlite-driver') && name === 'executeQuery'
        ? 'SQLite execute'
        : 'Kysely build/compile';
    }
    if (pkg === 'pg' || pkg.startsWith('pg-') || pkg.startsWith('postgres-') || pkg === 'pgpass') return 'pg driver';
    if (pkg === 'jose') return 'JWT/crypto';
    if (pkg === 'secure-json-parse') return 'JSON';
    if (PINO.includes(pkg)) return 'pino';
    if (FASTIFY.some((p) => (p.endsWith('/') ? pkg.startsWith(p) : pkg === p))) return 'Fastify';
    return 'other';
  }
  if (url.startsWith('node:') || !url.includes('/')) {
    const m = url.replace(/^node:/, '');
    if (m === 'fs' || m.startsWith('internal/fs/') || m === 'fs/promises') return 'Node fs (artifact download)';
    if (m.startsWith('internal/crypto') || m === 'crypto' || m.startsWith('internal/webcrypto')) return 'JWT/crypto';
    if (
      /^(_http_|http|https|net|stream|internal\/(http|streams|stream_base_commons|net|js_stream_socket)|internal\/url)/.test(
        m,
      )
    )
      return 'Node http/net';
    return 'Node core, other (timers, promises, events)';
  }
  const path = url.replace(/^file:\/\//, '');
  if (path.startsWith(`${ROOT}/src/`)) return "Flotilla's src/";
  return 'other';
}

function shortUrl(url: string): string {
  if (url === '') return '(native)';
  const path = url.replace(/^file:\/\//, '');
  const at = path.lastIndexOf('/node_modules/');
  if (at >= 0) return path.slice(at + '/node_modules/'.length);
  if (path.startsWith(`${ROOT}/`)) return path.slice(ROOT.length + 1);
  return path;
}

/**
 * Summarises `file` over [fromUs, toUs] (CLOCK_MONOTONIC microseconds; the whole profile when absent). Each sample
 * counts for the time until the next one.
 */
export function summariseProfile(file: string, fromUs = -Infinity, toUs = Infinity, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const categoryCache = new Map<number, Category>();
  const categoryOf = (id: number): Category => {
    const cached = categoryCache.get(id);
    if (cached) return cached;
    const node = byId.get(id);
    let category: Category = 'other';
    if (node) {
      const own = ownCategory(node.callFrame);
      if (own) category = own;
      else {
        const up = parent.get(id);
        if (up !== undefined && byId.get(up)?.callFrame.functionName !== '(root)') category = categoryOf(up);
      }
    }
    categoryCache.set(id, category);
    return category;
  };

  const selfUs = new Map<number, number>();
  let t = profile.startTime;
  let windowUs = 0;
  let idleUs = 0;
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    t += timeDeltas[i];
    const next = i + 1 < samples.length ? timeDeltas[i + 1] : profile.endTime - t;
    if (t < fromUs || t > toUs) continue;
    const weight = Math.max(0, next);
    windowUs += weight;
    const node = byId.get(samples[i]);
    const name = node?.callFrame.functionName;
    if (name === '(idle)') {
      idleUs += weight;
      continue;
    }
    selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + weight);
  }

  const categories = new Map<Category, number>(CATEGORIES.map((c) => [c, 0]));
  const frames = new Map<string, { frame: string; where: string; seconds: number; category: Category }>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const category = categoryOf(id);
    categories.set(category, (categories.get(category) ?? 0) + us / 1e6);
    const { functionName, url, lineNumber } = node.callFrame;
    const frame = functionName || '(anonymous)';
    // tsx compiles src/*.ts to code whose line numbers say nothing about the source: the file only.
    const where = url === '' ? '(native)' : url.endsWith('.ts') ? shortUrl(url) : `${shortUrl(url)}:${lineNumber + 1}`;
    const key = `${frame} ${where}`;
    const entry = frames.get(key) ?? { frame, where, seconds: 0, category };
    entry.seconds += us / 1e6;
    frames.set(key, entry);
  }
  return {
    windowSeconds: windowUs / 1e6,
    busySeconds: (windowUs - idleUs) / 1e6,
    categories,
    top: [...frames.values()].sort((a, b) => b.seconds - a.seconds).slice(0, top),
  };
}

const pct = (part: number, whole: number) => `${((100 * part) / whole).toFixed(1)} %`;

/** The summary as markdown tables: categories (busiest first) and the top self frames. */
export function profileMarkdown(summary: ProfileSummary): string {
  const busy = summary.busySeconds;
  const lines = [
    `Main thread busy ${summary.busySeconds.toFixed(2)} s of ${summary.windowSeconds.toFixed(2)} s profiled.`,
    '',
    '| share of busy main thread | self time | category |',
    '|---|---|---|',
    ...[...summary.categories]
      .filter(([, s]) => s > 0)
      .sort((a, b) => b[1] - a[1])
      .map(([c, s]) => `| ${pct(s, busy)} | ${(s * 1000).toFixed(0)} ms | ${c} |`),
    '',
    '| # | self frame | where | share | category |',
    '|---|---|---|---|---|',
    ...summary.top.map(
      (f, i) => `| ${i + 1} | \`${f.frame}\` | ${f.where} | ${pct(f.seconds, busy)} | ${f.category} |`,
    ),
  ];
  return lines.join('\n');
}
