// Shared pieces of the benchmarks: a Flotilla server in a child process (so its memory and its CPU are its own),
// the bare Node servers the baselines run against (also child processes, so both sides of every ratio are
// measured the same way), its peak resident memory from /proc, statistics, and the machine's description.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const FLOTILLA = resolve(ROOT, 'bin', 'flotilla.js');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Children still running: a benchmark stopped half-way (an error, Ctrl-C) must not leave servers behind. */
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => process.exit(130));
}

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export interface Server {
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

function stopper(child: ChildProcess): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
}

async function waitAnswering(url: string, child: ChildProcess, what: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  child.kill('SIGKILL');
  throw new Error(`${what} did not answer at ${url} within 60 s`);
}

/**
 * `flotilla serve` on a free port; only the benchmark's own FLOTILLA_* settings reach it. `execArgv`: options for
 * the server's `node` (the profile benchmark passes `--cpu-prof`); none by default.
 */
export async function startServer(
  dataDir: string,
  env: Record<string, string> = {},
  options: { execArgv?: string[] } = {},
): Promise<Server> {
  const port = await freePort();
  const inherited: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (value !== undefined && !name.startsWith('FLOTILLA_')) inherited[name] = value;
  }
  const child = track(
    spawn(
      process.execPath,
      [...(options.execArgv ?? []), FLOTILLA, 'serve', '--port', String(port), '--data', dataDir],
      {
        // The embedded MQTT broker (Kanto) on a free port: Mosquitto may hold 1883.
        env: { ...inherited, FLOTILLA_LOG_LEVEL: 'warn', FLOTILLA_HOST: '127.0.0.1', FLOTILLA_MQTT_PORT: '0', ...env },
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    ),
  );
  const url = `http://127.0.0.1:${port}`;
  await waitAnswering(`${url}/api/openapi.json`, child, 'flotilla serve');
  return { url, process: child, stop: stopper(child) };
}

// The baselines: the least a Node HTTP server can do for the same request. CommonJS for `node -e`.
const CONSTANT_SERVER = `
const http = require('node:http');
http.createServer((req, res) => {
  req.resume();
  req.on('end', () => { res.statusCode = 204; res.end(); });
}).listen(Number(process.env.PORT), '127.0.0.1');`;

const JSON_SERVER = `
const http = require('node:http');
const body = Buffer.from(process.env.BODY);
http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.statusCode = 200;
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.setHeader('content-length', String(body.length));
    res.end(body);
  });
}).listen(Number(process.env.PORT), '127.0.0.1');`;

const FILE_SERVER = `
const http = require('node:http');
const fs = require('node:fs');
const file = process.env.FILE;
http.createServer((req, res) => {
  req.resume();
  res.setHeader('content-type', 'application/octet-stream');
  res.setHeader('content-length', String(fs.statSync(file).size));
  fs.createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(res);
}).listen(Number(process.env.PORT), '127.0.0.1');`;

/**
 * A bare Node server from `script` (CommonJS, or an ES module with `module`), answering HTTP on `PORT`; run from the
 * repository, so that it can import the project's dependencies.
 */
export async function startNode(
  script: string,
  env: Record<string, string>,
  what: string,
  options: { module?: boolean } = {},
): Promise<Server> {
  const port = await freePort();
  const child = track(
    spawn(process.execPath, [...(options.module ? ['--input-type=module'] : []), '-e', script], {
      cwd: ROOT,
      env: { ...process.env, ...env, PORT: String(port) },
      stdio: ['ignore', 'inherit', 'inherit'],
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  await waitAnswering(`${url}/`, child, what);
  return { url, process: child, stop: stopper(child) };
}

/** A bare Node `http` server that answers every request with an empty 204 (the device poll's answer). */
export function startConstantServer(): Promise<Server> {
  return startNode(CONSTANT_SERVER, {}, 'constant server');
}

/** A bare Node `http` server that answers every request with `200` and the same JSON `body`. */
export function startJsonServer(body: string): Promise<Server> {
  return startNode(JSON_SERVER, { BODY: body }, 'JSON server');
}

/** A bare Node `http` server that streams `file` to every request. */
export function startFileServer(file: string): Promise<Server> {
  return startNode(FILE_SERVER, { FILE: file }, 'file server');
}

/** CPU seconds (user and system) a live process has used so far, from /proc. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15, in clock ticks.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Waits until a process has been nearly idle (under 5 % of a core) for half a second: the work a benchmark started
 * before its timed part is done. Gives up quietly after `timeoutSeconds`.
 */
export async function waitQuiet(pid: number, timeoutSeconds = 60): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  let before = cpuSeconds(pid);
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const now = cpuSeconds(pid);
    if (now - before < 0.025) return;
    before = now;
  }
  progress(`process ${pid} was still busy after ${timeoutSeconds} s; going on`);
}

/** Peak resident set size (VmHWM) of a live process, in bytes. */
export function peakRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmHWM:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

/** Resident set size (VmRSS) of a live process now, in bytes. */
export function currentRss(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

/**
 * Samples a process's VmRSS every 20 ms between start() and stop() (any number of times), keeping the largest: the
 * memory a transfer holds, which VmHWM alone cannot attribute to one part of a run.
 */
export function rssSampler(pid: number) {
  let timer: NodeJS.Timeout | undefined;
  const sampler = {
    max: 0,
    current: () => currentRss(pid),
    start() {
      sampler.max = Math.max(sampler.max, currentRss(pid));
      timer ??= setInterval(() => {
        sampler.max = Math.max(sampler.max, currentRss(pid));
      }, 20);
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      sampler.max = Math.max(sampler.max, currentRss(pid));
    },
  };
  return sampler;
}

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match) return match[1].trim();
  } catch {
    // not Linux: fall through
  }
  return cpus()[0]?.model ?? 'unknown CPU';
}

export function machine(): string {
  return `${cpuModel()}, ${cpus().length} cores, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB memory, Node ${process.version} on ${process.platform}`;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Seconds since `start` (from process.hrtime.bigint()). */
export const secondsSince = (start: bigint) => Number(process.hrtime.bigint() - start) / 1e9;

/** Logs progress to stderr, so stdout carries only the report. */
export function progress(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

export const MiB = 1024 * 1024;
