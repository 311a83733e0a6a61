// One autocannon run, reduced to the figures the report needs. Every response must be the expected 2xx: a
// benchmark that counts errors as throughput would flatter the server. Latency percentiles come from each
// response's own time (autocannon's histogram counts whole milliseconds, too coarse for a bare server's answer).
import autocannon from 'autocannon';

export interface LoadOptions {
  url: string;
  method: 'GET' | 'POST';
  path: string;
  body?: string;
  /** Bearer tokens, used in turn (one per request) so the load spreads over many devices. */
  tokens?: string[];
  connections: number;
  durationSeconds: number;
  /** Requests per second over all connections; absent: as fast as the server answers. */
  overallRate?: number;
}

export interface LoadFigures {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
}

export async function load(options: LoadOptions): Promise<LoadFigures> {
  const tokens = options.tokens ?? [];
  let turn = 0;
  const headers: Record<string, string> = options.body ? { 'content-type': 'application/json' } : {};
  const times: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        duration: options.durationSeconds,
        ...(options.overallRate ? { overallRate: options.overallRate } : {}),
        requests: [
          {
            method: options.method,
            path: options.path,
            headers,
            ...(options.body ? { body: options.body } : {}),
            setupRequest: (request) => {
              if (tokens.length === 0) return request;
              const token = tokens[turn++ % tokens.length];
              return { ...request, headers: { ...headers, authorization: `Bearer ${token}` } };
            },
          },
        ],
      },
      (error, outcome) => (error ? reject(error) : resolve(outcome)),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300) times.push(responseTime);
    });
  });
  times.sort((a, b) => a - b);
  const answered = result['2xx'];
  if (result.non2xx > 0 || result.errors > 0 || answered === 0) {
    throw new Error(
      `load on ${options.path}: ${answered} 2xx, ${result.non2xx} non-2xx ${JSON.stringify(result.statusCodeStats)}, ` +
        `${result.errors} errors (${result.timeouts} timeouts)`,
    );
  }
  return {
    requestsPerSecond: answered / result.duration,
    p50Ms: percentile(times, 0.5),
    p99Ms: percentile(times, 0.99),
    requests: answered,
  };
}

/** The value below which `fraction` of the sorted samples lie (nearest rank). */
export function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))];
}
