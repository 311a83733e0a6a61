// The soak (issue 18): `flotilla serve` under the device load of a fleet for a long while — update checks at twice
// the benchmark's offered poll rate (bench/run.ts: 200 req/s, so 400 req/s) plus status reports of devices working
// on a deployment (each report a real change: downloading and installing in turn) — counting every answer that is
// not a 2xx or never came, and sampling the server's resident memory every few seconds. It prints a markdown
// section (errors, latency, RSS at start, peak and end, and its slope after the warm-up) and writes it to `--out`.
//
//   npm run soak -- [--minutes 10] [--quick] [--dialect sqlite|postgres] [--rate 400] [--out soak.md]
//
// The load is open loop and paced evenly, as devices poll on their own clocks; a request that finds the client's
// in-flight bound full is counted as an error too (the server fell that far behind). Node's fetch (undici, keep-alive)
// sends it: at a few hundred requests/s its cost on the client side is small next to the server's.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { call, login, smallArtifact, uploadArtifact } from './api.js';
import { BENCH_DEVICE_TYPE, BENCH_INSTALLED, type Dialect, fleetEnv, seedFleet } from './fleet.js';
import { percentile } from './load.js';
import { machine, progress, startServer } from './support.js';

const NEXT = '/api/devices/v2/deployments/device/deployments/next';
const STATUS = (id: string) => `/api/devices/v1/deployments/device/deployments/${id}/status`;
/** The benchmark's offered poll rate (bench/run.ts full sizes): the soak runs at twice it. */
const TARGET_POLL_RATE = 200;
const SAMPLE_SECONDS = 5;
/** Requests in flight at most; one due beyond that counts as an error (the server is that far behind). */
const MAX_IN_FLIGHT = 256;

const { values: args } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    quick: { type: 'boolean', default: false },
    dialect: { type: 'string', default: 'sqlite' },
    rate: { type: 'string', default: String(2 * TARGET_POLL_RATE) },
    out: { type: 'string' },
  },
});
const quick = args.quick;
const minutes = quick ? 0.5 : Number(args.minutes);
const dialect = args.dialect as Dialect;
const pollRate = Number(args.rate);
/** One status report for every ten update checks. */
const reportRate = pollRate / 10;
const devices = quick ? 500 : 2000;
const reporters = quick ? 50 : 200;
if (!(minutes > 0) || !(pollRate > 0) || (dialect !== 'sqlite' && dialect !== 'postgres')) {
  throw new Error('usage: soak [--minutes N] [--quick] [--dialect sqlite|postgres] [--rate R] [--out FILE]');
}

function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

/** A device JWT's subject: the device id. */
function deviceIdOf(token: string): string {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sub;
}

/** Least-squares slope of `y` over `x`. */
function slope(points: { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const num = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0);
  const den = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

interface Tally {
  sent: number;
  ok: number;
  errors: Map<string, number>;
  latencies: number[];
}

const newTally = (): Tally => ({ sent: 0, ok: 0, errors: new Map(), latencies: [] });

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'flotilla-soak-'));
  const loadStart = loadavg()[0];
  progress(`soak: seeding ${devices} devices (${dialect})`);
  const fleet = await seedFleet(dialect, join(work, 'data'), { devices, tokens: devices, groupEvery: 10 });
  const server = await startServer(fleet.dataDir, fleetEnv(fleet));
  const pid = server.process.pid as number;
  try {
    const admin = await login(server.url, fleet.adminEmail, fleet.adminPassword);
    await uploadArtifact(server.url, admin, await smallArtifact(work, 'soak-1', BENCH_DEVICE_TYPE));
    const working = fleet.tokens.slice(0, reporters);
    const created = await call(server.url, admin, 'POST', '/api/management/v1/deployments/deployments', 201, {
      name: 'soak',
      artifact_name: 'soak-1',
      devices: working.map(deviceIdOf),
    });
    const deploymentId = String(created.headers.get('location')).split('/').pop() as string;
    const pollBody = JSON.stringify({
      device_provides: { device_type: BENCH_DEVICE_TYPE, artifact_name: BENCH_INSTALLED },
    });
    // Each working device takes the deployment once, as a device does before it reports.
    for (const token of working) {
      const res = await fetch(`${server.url}${NEXT}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: pollBody,
      });
      if (res.status !== 200) throw new Error(`a working device's first check: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
    }

    const tally = newTally();
    const samples: { seconds: number; rss: number }[] = [];
    let inFlight = 0;
    const fire = (path: string, method: string, token: string, body: string) => {
      tally.sent++;
      if (inFlight >= MAX_IN_FLIGHT) {
        tally.errors.set('client in-flight bound full', (tally.errors.get('client in-flight bound full') ?? 0) + 1);
        return;
      }
      inFlight++;
      const start = performance.now();
      fetch(`${server.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body,
      })
        .then(async (res) => {
          await res.arrayBuffer();
          if (res.status >= 200 && res.status < 300) {
            tally.ok++;
            tally.latencies.push(performance.now() - start);
          } else {
            const key = `${method} ${res.status}`;
            tally.errors.set(key, (tally.errors.get(key) ?? 0) + 1);
          }
        })
        .catch((error: Error) => {
          const key = `${method} ${error.message}`;
          tally.errors.set(key, (tally.errors.get(key) ?? 0) + 1);
        })
        .finally(() => {
          inFlight--;
        });
    };

    progress(`soak: ${pollRate} checks/s and ${reportRate} reports/s for ${minutes} min`);
    const durationMs = minutes * 60_000;
    const began = performance.now();
    let polls = 0;
    let reports = 0;
    let nextSample = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const elapsed = performance.now() - began;
        if (elapsed >= nextSample) {
          samples.push({ seconds: elapsed / 1000, rss: rssOf(pid) });
          nextSample += SAMPLE_SECONDS * 1000;
        }
        const until = Math.min(elapsed, durationMs);
        while (polls < (until / 1000) * pollRate) {
          fire(NEXT, 'POST', fleet.tokens[polls % fleet.tokens.length], pollBody);
          polls++;
        }
        while (reports < (until / 1000) * reportRate) {
          // Each working device in turn, downloading and installing by turns: every report changes its attempt.
          const round = Math.floor(reports / working.length);
          const status = round % 2 === 0 ? 'installing' : 'downloading';
          fire(STATUS(deploymentId), 'PUT', working[reports % working.length], JSON.stringify({ status }));
          reports++;
        }
        if (elapsed >= durationMs) resolve();
        else setTimeout(tick, 5);
      };
      tick();
    });
    while (inFlight > 0) await new Promise((r) => setTimeout(r, 20));
    samples.push({ seconds: (performance.now() - began) / 1000, rss: rssOf(pid) });
    const seconds = (performance.now() - began) / 1000;

    const MiB = 1024 * 1024;
    const warm = samples.filter((s) => s.seconds >= Math.min(60, seconds / 4));
    const perMinute = slope(warm.map((s) => ({ x: s.seconds / 60, y: s.rss / MiB })));
    const rss = samples.map((s) => s.rss);
    const errors = [...tally.errors.values()].reduce((a, b) => a + b, 0);
    tally.latencies.sort((a, b) => a - b);
    const f = (n: number, digits = 1) => n.toLocaleString('en-US', { maximumFractionDigits: digits });
    const lines = [
      `## Soak: ${f(minutes)} min of device polls and status reports (${dialect === 'sqlite' ? 'SQLite' : 'PostgreSQL'})`,
      '',
      `Written by \`npm run soak${quick ? ' -- --quick' : ` -- --minutes ${f(minutes)}`}\` on ${new Date().toISOString().slice(0, 10)}: ` +
        `${f(devices, 0)} devices, update checks (v2 \`next\`) at ${f(pollRate, 0)} req/s (twice the benchmark's ` +
        `offered ${TARGET_POLL_RATE} req/s) and status reports at ${f(reportRate, 0)} req/s from ${reporters} devices ` +
        'working on a deployment (downloading and installing by turns: every report a change), paced evenly.',
      '',
      `- **Machine:** ${machine()}; 1-minute load average ${f(loadStart, 2)} at the start, ${f(loadavg()[0], 2)} at the end.`,
      '',
      '| figure | value |',
      '|---|---|',
      `| requests sent | ${f(tally.sent, 0)} in ${f(seconds)} s (${f(tally.sent / seconds)} req/s) |`,
      `| errors (non-2xx, no answer, client bound full) | **${f(errors, 0)}**${errors ? ` (${[...tally.errors].map(([k, v]) => `${k}: ${v}`).join(', ')})` : ''} |`,
      `| latency p50 / p99 / max | ${f(percentile(tally.latencies, 0.5), 2)} ms / ${f(percentile(tally.latencies, 0.99), 2)} ms / ${f(tally.latencies.at(-1) ?? 0, 1)} ms |`,
      `| server RSS at start / peak / end | ${f(rss[0] / MiB)} MiB / ${f(Math.max(...rss) / MiB)} MiB / ${f(rss.at(-1)! / MiB)} MiB |`,
      `| RSS slope after the warm-up (least squares over ${warm.length} samples, every ${SAMPLE_SECONDS} s) | ${f(perMinute, 2)} MiB/min |`,
      '',
    ];
    const markdown = lines.join('\n');
    process.stdout.write(`${markdown}\n`);
    if (args.out) writeFileSync(args.out, `${markdown}\n`);
    if (errors > 0) process.exitCode = 1;
  } finally {
    await server.stop();
    await fleet.drop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
