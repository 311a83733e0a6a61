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

export interface RequestInit {
  body?: Buffer | string;
  headers?: Record<string, string>;
  /** Answers of 400 and above that are part of the protocol here (e.g. 401 while a device waits for admission). */
  expect?: number[];
}

/**
 * Counts requests, latencies and failures. A failure is a network error or any answer of 400 and above the caller
 * did not expect; a 429 is waited out (its Retry-After) and sent again while the deadline allows, and counted in
 * `rateLimited`; one still refused at the deadline is a failure like any other.
 */
export class HttpCounter {
  requests = 0;
  errors = 0;
  rateLimited = 0;
  /** Failures by status (`0`: no answer). */
  readonly failures: Record<string, number> = {};
  readonly latencies: number[] = [];

  constructor(private readonly deadline = Number.POSITIVE_INFINITY) {}

  async request(method: string, url: string, init: RequestInit): Promise<HttpAnswer> {
    for (;;) {
      const { answer, retryAfterMs } = await this.once(method, url, init);
      if (answer.status === 429) {
        this.rateLimited++;
        if (Date.now() + retryAfterMs < this.deadline) {
          await new Promise((resolve) => setTimeout(resolve, retryAfterMs));
          continue;
        }
      }
      if (answer.status === 0 || (answer.status >= 400 && !init.expect?.includes(answer.status))) {
        this.errors++;
        this.failures[answer.status] = (this.failures[answer.status] ?? 0) + 1;
      }
      return answer;
    }
  }

  private async once(
    method: string,
    url: string,
    init: RequestInit,
  ): Promise<{ answer: HttpAnswer; retryAfterMs: number }> {
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
      const retryAfter = Number(res.headers.get('retry-after'));
      return {
        answer: { status: res.status, text: bytes.toString('utf8'), bytes },
        retryAfterMs: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 1000,
      };
    } catch (error) {
      return { answer: { status: 0, text: String(error), bytes: Buffer.alloc(0) }, retryAfterMs: 0 };
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
