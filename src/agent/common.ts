// What every simulated device shares: its options, how it misbehaves on request, and an HTTP client that counts
// requests, errors and latencies for the simulator's summary.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

export interface AgentOptions {
  /** Flotilla's base URL, e.g. http://127.0.0.1:8080. */
  server: string;
  deviceType: string;
  /** What the device runs before any update. */
  artifactName: string;
  /** Where installed files go (the whole artifact for Mender, each chunk file for DDI); none: a no-op installer. */
  installDir?: string;
}

/** Writes an installed file into the agent's install directory, if it has one (write, then rename: never half). */
export async function installFile(dir: string | undefined, name: string, bytes: Buffer): Promise<void> {
  if (!dir) return;
  const safe = basename(name);
  if (!safe || safe === '.' || safe === '..') throw new Error(`refusing to install ${JSON.stringify(name)}`);
  await mkdir(dir, { recursive: true });
  const target = join(dir, safe);
  await writeFile(`${target}.partial`, bytes);
  await rename(`${target}.partial`, target);
}

/** Told to fail every installation, to take its time, or to stop answering. */
export interface Behaviour {
  fail?: boolean;
  slowMs?: number;
  /** Goes silent in the middle of an update (Mender), as a device that lost power or network would. */
  dropOff?: boolean;
}

export type UpdateOutcome = 'success' | 'failure' | 'aborted';

export interface HttpAnswer {
  status: number;
  text: string;
  bytes: Buffer;
}

export class HttpCounter {
  requests = 0;
  errors = 0;
  readonly latencies: number[] = [];

  async request(
    method: string,
    url: string,
    init: { body?: Buffer | string; headers?: Record<string, string> },
  ): Promise<HttpAnswer> {
    const started = performance.now();
    this.requests++;
    try {
      const res = await fetch(url, {
        method,
        headers: init.headers,
        body:
          init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : new Uint8Array(init.body),
      });
      const bytes = Buffer.from(await res.arrayBuffer());
      if (res.status >= 500) this.errors++;
      return { status: res.status, text: bytes.toString('utf8'), bytes };
    } catch (error) {
      this.errors++;
      return { status: 0, text: String(error), bytes: Buffer.alloc(0) };
    } finally {
      this.latencies.push(performance.now() - started);
    }
  }

  json(method: string, url: string, headers: Record<string, string>, body?: unknown): Promise<HttpAnswer> {
    return this.request(method, url, {
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  /** Latency percentile in milliseconds (p in 0..100). */
  percentile(p: number): number {
    if (this.latencies.length === 0) return 0;
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
  }
}
