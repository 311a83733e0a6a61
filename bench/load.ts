// One autocannon run, reduced to the figures the report needs. Every response must be the expected 2xx: a
// benchmark that counts errors as throughput would flatter the server. Latency percentiles come from each
// response's own time (autocannon's histogram counts whole milliseconds, too coarse for a bare server's answer).
// autocannon is used only as fast as its connections go: for a fixed rate see paced.ts.
import autocannon from 'autocannon';

/** One request shape (one device): its path and its credentials. */
export interface RequestVariant {
  path: string;
  /** The whole Authorization header value, e.g. `Bearer eyJ...` or `TargetToken ...`. */
  authorization?: string;
}

export interface LoadOptions {
  url: string;
  method: 'GET' | 'POST';
  body?: string;
  /** Used in turn, one per request, so the load spreads over many devices. */
  requests: RequestVariant[];
  connections: number;
  /** How long to run; ignored when `once`. */
  durationSeconds: number;
  /** Send every variant exactly once (autocannon `amount`) instead of running for a duration. */
  once?: boolean;
}

export interface LoadFigures {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** Wall time of the run. */
  seconds: number;
}

export async function load(options: LoadOptions): Promise<LoadFigures> {
  const variants = options.requests;
  if (variants.length === 0) throw new Error('load: no requests');
  if (options.once && variants.length < options.connections) throw new Error('load: fewer requests than connections');
  let turn = 0;
  const headers: Record<string, string> = options.body ? { 'content-type': 'application/json' } : {};
  const times: number[] = [];
  // The run's time is the benchmark's own: from the start to the last answer. autocannon's `duration` only ends on
  // its one-second tick, so a run of `amount` requests would count up to a second of nothing.
  const started = performance.now();
  let lastAnswer = started;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        ...(options.once ? { amount: variants.length } : { duration: options.durationSeconds }),
        requests: [
          {
            method: options.method,
            path: variants[0].path,
            headers,
            ...(options.body ? { body: options.body } : {}),
            setupRequest: (request) => {
              const variant = variants[turn++ % variants.length];
              return {
                ...request,
                path: variant.path,
                headers: variant.authorization ? { ...headers, authorization: variant.authorization } : headers,
              };
            },
          },
        ],
      },
      (error, outcome) => (error ? reject(error) : resolve(outcome)),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      lastAnswer = performance.now();
      if (statusCode >= 200 && statusCode < 300) times.push(responseTime);
    });
  });
  times.sort((a, b) => a - b);
  const answered = result['2xx'];
  if (result.non2xx > 0 || result.errors > 0 || answered === 0) {
    throw new Error(
      `load on ${variants[0].path}: ${answered} 2xx, ${result.non2xx} non-2xx ${JSON.stringify(result.statusCodeStats)}, ` +
        `${result.errors} errors (${result.timeouts} timeouts)`,
    );
  }
  // `once` promises each device exactly one request (the real-fleet poll counts on it).
  if (options.once && (turn !== variants.length || answered !== variants.length)) {
    throw new Error(`load: ${variants.length} requests wanted once each, ${turn} built and ${answered} answered`);
  }
  const seconds = (lastAnswer - started) / 1000;
  return {
    requestsPerSecond: answered / seconds,
    p50Ms: percentile(times, 0.5),
    p99Ms: percentile(times, 0.99),
    requests: answered,
    seconds,
  };
}

/** The value below which `fraction` of the sorted samples lie (nearest rank). */
export function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))];
}
