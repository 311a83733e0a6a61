// A fixed offered rate, paced evenly (open loop): request i is due at start + i / rate whatever became of the ones
// before it, as devices poll on their own clocks, and its latency counts from when it was due, so a request that
// waited for a free connection or behind a slow answer shows that wait (no coordinated omission).
//
// Why not autocannon's `overallRate`: it lets each connection send its quota for the second as fast as it can at
// the start of every second and then idle, so at half the server's most requests/s the server runs at full load
// for half of every second, and even a bare server's p99 is then several times its p99 at full speed.
import { Agent, request } from 'node:http';
import { type LoadFigures, percentile, type RequestVariant } from './load.js';

export interface PacedOptions {
  url: string;
  method: 'GET' | 'POST';
  body?: string;
  /** Used in turn, one per request. */
  requests: RequestVariant[];
  /** Requests per second. */
  rate: number;
  durationSeconds: number;
  /** Keep-alive connections the client may open (opened as needed; a request beyond them waits, and that counts). */
  maxConnections: number;
}

export const PACED_CONNECTIONS = 100;

export function paced(options: PacedOptions): Promise<LoadFigures> {
  const total = Math.max(1, Math.round(options.rate * options.durationSeconds));
  const interval = 1000 / options.rate;
  const agent = new Agent({ keepAlive: true, maxSockets: options.maxConnections });
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  const times: number[] = [];
  const failures: string[] = [];
  let sent = 0;
  let finished = 0;
  let lastEnd = 0;
  const start = performance.now();

  return new Promise<LoadFigures>((resolve, reject) => {
    const settle = () => {
      if (++finished < total) return;
      agent.destroy();
      if (failures.length) {
        reject(new Error(`paced load: ${failures.length} of ${total} failed, e.g. ${failures.slice(0, 3).join('; ')}`));
        return;
      }
      times.sort((a, b) => a - b);
      const seconds = (lastEnd - start) / 1000;
      resolve({
        requestsPerSecond: total / seconds,
        p50Ms: percentile(times, 0.5),
        p99Ms: percentile(times, 0.99),
        requests: total,
        seconds,
      });
    };
    const fire = (index: number, due: number) => {
      let answered = false;
      const variant = options.requests[index % options.requests.length];
      const req = request(
        `${options.url}${variant.path}`,
        {
          method: options.method,
          agent,
          headers: {
            ...(variant.authorization ? { authorization: variant.authorization } : {}),
            ...(body ? { 'content-type': 'application/json', 'content-length': body.length } : {}),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            answered = true;
            lastEnd = performance.now();
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) times.push(lastEnd - due);
            else failures.push(`status ${status}`);
            settle();
          });
        },
      );
      req.on('error', (error) => {
        if (answered) return;
        answered = true;
        failures.push(error.message);
        settle();
      });
      req.end(body);
    };
    const tick = () => {
      const now = performance.now();
      while (sent < total && start + sent * interval <= now) {
        fire(sent, start + sent * interval);
        sent++;
      }
      if (sent < total) setTimeout(tick, Math.max(0, start + sent * interval - performance.now()));
    };
    tick();
  });
}
