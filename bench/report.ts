// Renders the benchmark results as BENCHMARKS.md: one summary table (every figure next to its baseline from the
// same run, and the ratio), then what each benchmark did, so the figures can be read and reproduced.
import { cpus } from 'node:os';
import type { ClusterResult } from './cluster.js';
import type { DdiResult } from './ddi.js';
import type { DeployResult } from './deploy.js';
import type { KantoResult } from './kanto.js';
import { PACED_CONNECTIONS } from './paced.js';
import { CHECK_IN_RESOLUTION_SECONDS, POLL_INTERVAL_MINUTES, type PollResult, type RealFleetResult } from './poll.js';
import type { SimulationResult } from './simulate.js';
import type { TransferResult } from './transfer.js';

export interface DialectResults {
  dialect: 'sqlite' | 'postgres';
  /** e.g. "SQLite 3.50.2 (better-sqlite3, WAL)" */
  database: string;
  seedSeconds: number;
  poll?: PollResult;
  deploy?: DeployResult;
  ddi?: DdiResult;
}

export interface Results {
  date: string;
  mode: 'full' | 'quick';
  machine: string;
  /** 1-minute load averages at the start and the end: other work on the machine shows here. */
  load: [number, number];
  totalSeconds: number;
  dialects: DialectResults[];
  /** Upload and downloads on each blob store that ran. */
  transfers: TransferResult[];
  simulations: SimulationResult[];
  kanto: KantoResult[];
  cluster?: ClusterResult;
  /** Benchmarks that did not run, and why. */
  skipped: string[];
  /** Benchmarks that failed (what, and the error): the others still report. */
  failed: string[];
}

const int = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => (n < 10 ? `${n.toFixed(2)} ms` : `${n.toFixed(1)} ms`);
/** The steady real-fleet rounds of a poll result, every one's ratio to its bare pass shown. */
const realFleetRounds = (real: RealFleetResult) =>
  real.steadyRounds.length === 1
    ? 'one round'
    : `the median of ${real.steadyRounds.length} rounds: ${real.steadyRounds.map((x) => (x.requestsPerSecond / x.bare.requestsPerSecond).toFixed(3)).join(', ')}`;
/** The half-load windows of a poll result, every one's p99 shown (Flotilla's, then the baseline's). */
const halfWindows = (p: PollResult) =>
  p.halfP99Ms.flotilla.length === 1
    ? 'one window'
    : `${p.halfP99Ms.flotilla.length} windows each side; Flotilla ${p.halfP99Ms.flotilla.map(ms).join(', ')}, baseline ${p.halfP99Ms.baseline.map(ms).join(', ')}`;
const sec = (n: number) => (n < 10 ? `${n.toFixed(2)} s` : `${n.toFixed(1)} s`);
const mibps = (n: number) => `${n.toFixed(0)} MiB/s`;
/** Flotilla ÷ baseline, with the sense spelled out (rates: fraction of the baseline; times: multiple of it). */
const rate = (ours: number, base: number) => `${(ours / base).toFixed(3)} of baseline`;
const time = (ours: number, base: number) => `${(ours / base).toFixed(1)} × baseline`;
const runs = (n: number) => (n === 1 ? '1 run' : `${n} runs`);
const NAME = { sqlite: 'SQLite', postgres: 'PostgreSQL' } as const;

/** The targets of the project's issue, shown next to the figures (not asserted: a benchmark measures). */
const TARGETS = {
  pollShare: { sqlite: 0.5, postgres: 0.4 },
  halfLoadP99Ms: 20,
  deploymentTimes: { sqlite: 4, postgres: 8 },
  transferShare: 0.9,
} as const;
const STORE_NAME = { folder: 'folder store', s3: 'S3 store (radosgw)' } as const;
const atLeast = (ours: number, base: number, share: number) =>
  `≥ ${share} of baseline${ours / base >= share ? '' : ' (not met)'}`;
const atMostTimes = (ours: number, base: number, times: number) =>
  `≤ ${times} × baseline${ours / base <= times ? '' : ' (not met)'}`;
const atMostMs = (ours: number, limit: number) => `≤ ${limit} ms${ours <= limit ? '' : ' (not met)'}`;

/**
 * Where the time goes on the device paths, from `npm run bench:profile` (bench/profile.ts): written by hand from
 * the profiles of one day, so it is static text, rendered after the figures of every run. Update it when the hot
 * paths change and you profile again.
 */
export const WHERE_THE_TIME_GOES = `## Where the time goes (profiled on 2026-12-07, commit 378fba3)

Profiled with \`npm run bench:profile -- --dialect sqlite|postgres --what poll|deploy\` (bench/profile.ts): \`flotilla
serve\` runs under \`node --cpu-prof\`, the profile is cut to the measured window, and its self time is summed by
category (a frame without a script, such as a builtin or a native call, counts for its caller). Server CPU per request
is read from /proc around the same window, on a run without the profiler and one with it. The machine (2 cores) was
shared with other test runs, at a 1-minute load average of 5 to 12 throughout, so absolute figures move by a third from
run to run; the research note (research/performance.md, commit 84fd027) measured the "before" figures mostly at load
1.7 to 4.5, and its heavy-load figures (load ≈ 10) are the fairer comparison. Shares of a profile are steadier; under
this load, the socket write syscalls are where the process is most often preempted, which inflates their share (the
bare server pays for the same writes).

### Device poll (Mender \`next\`, answer 204; 20,000 devices, 500 polling in turn, 10 connections, 8 s)

| | before (research note 1.1, 1.4, 1.5) | now |
|---|---|---|
| SQL statements per steady-state poll | 3 | 0 |
| server CPU per poll, SQLite | 473–494 µs (load 2), 577–670 µs (load ≈ 10) | **115–153 µs** (load 9–11; bare server: 56–57 µs) |
| server CPU per poll, PostgreSQL: Node + backends | 611–719 µs + 572–627 µs | **127–128 µs + 3–4 µs** (bare: 55–61 µs) |
| requests/s against the bare server, SQLite | 0.052–0.060 | 0.47 (4,627 / 9,825); a disturbed run 0.20, and 0.46 with the profiler on |
| requests/s against the bare server, PostgreSQL | 0.042 | 0.65–0.81 (4,116 / 5,060 and 4,151 / 6,416) |

Profile of the poll now (share of the busy main thread; SQLite, two runs, PostgreSQL alike):

| share | what |
|---|---|
| 36–44 % | socket write of the response (\`writeLatin1String\`): the same single write the bare server makes |
| 12–14 % | Node http (parser, \`IncomingMessage\` headers, \`writeHead\`) |
| 10–13 % | Flotilla's own code: \`tokenAlive\` 1.6–3.2 % (its frame includes formatting a Date as an ISO string for each check-in note: builtins count for their caller), \`verify\` 1.5–2.8 % (the verified-token map hashes the 700-character token on every lookup), the guard 1–1.6 % (plus its \`Bearer\` regex 0.3 %), \`providesOf\` 0.8–1.4 %, \`assign\` 0.7–1.4 %, the liveness cache 0.5–1.3 % |
| 9–11 % | Node core: events, microtasks, \`nextTick\` |
| 8–10 % | Fastify: routing (\`find-my-way\`), hooks, reply |
| 6–7 % | V8 and native code no frame owns (\`(program)\`) |
| 3 % | JSON body (\`secure-json-parse\`) |
| 1.3–1.7 % | pino: Fastify's per-request child logger stringifies its bindings (nothing is logged at \`warn\`) |
| 1–2 % | GC |
| 0.5–1 % | JWT (cache hits only) |
| 0.6–1.6 % | SQL (SQLite or pg plus Kysely): background work (the write-behind check-in flush, the revocation feed's poll, the deployments generation), not the requests |

Before, SQLite prepare (19–22 %), JWT verification (15–18 %), Kysely (13–15 %) and SQLite execution (10–11 %) took
about two thirds of the poll; all four are now below 2 % together. **What is left is the HTTP framework and Node's
own request handling**: Flotilla costs 60–95 µs more CPU per poll than a bare \`http\` server on this machine, of which
its own code is about 17–21 µs. What would take it further, each worth 1–3 % of the poll (estimates from the shares,
not measured): note check-ins as epoch milliseconds and format them at the flush; look a token up by a short key
(its \`jti\` after a cheap split, or one hash per request) rather than by its 700-character text; no per-request child
logger (Fastify's \`disableRequestLogging\` and a logger made only when something is logged). Beyond those, the
remainder is Fastify's routing, hooks and body parsing and Node's http, which a leaner route for the poll could
shorten; that was not tried.

### Devices through a deployment (next, downloading, download, installing, rebooting, success; 50 at a time)

| | before (research note 2.1–2.3) | now (2,000 devices unless said) |
|---|---|---|
| SQLite: time against the bare server | 21.1× (10,000 devices, load 3); best experiment 7.4× (5.1× against a slower bare run) | **4.0×** (19.7 s against 4.9 s, load 5); 2.9× and 5.8× in two runs with the profiler on (load 5 and 11) |
| SQLite: server CPU per request | 1.86 ms (10,000 devices); best experiment 0.43 ms | **1.14 ms** (1.16 ms with the profiler; 1.17–1.34 ms at load 11) |
| SQLite, 10,000 devices (the research note's size): time against the bare server | 21.1× (107.5 s against 5.09 s, load 3) | **8.9×** (123.4 s against 13.9 s, load 7–9); 5.3× with the profiler on |
| SQLite, 10,000 devices: server CPU per request | 1.86 ms | **1.11–1.14 ms** (with and without the profiler) |
| PostgreSQL: time against the bare server | 37–44× (load 2.8–8); best experiment 18× | **9.9×** (32.1 s against 3.3 s, load 5–10); 6.4× and 11.9× with the profiler on |
| PostgreSQL: CPU per request, Node + backends | 1.82 ms + 3.66 ms (21.8 s + 43.9 s for 12,000 requests) | **1.39 ms + 1.07 ms** |

Under this load the bare side of the flow (a client waiting on 50 connections) slowed more than Flotilla did (13.9 s
for 10,000 devices against 5.09 s in the research note), so the × figures here are rough; CPU per request is the
steadier one. It fell by about 40 % on SQLite (1.86 to 1.11–1.14 ms) and by 24 % in Node plus 71 % in the backends on
PostgreSQL, and it no longer grows with the deployment: 1.14 ms per request at 2,000 devices and at 10,000 (before,
each report recounted the whole deployment). It is still 2.6 times the 0.43 ms of the research note's best experiment
(measured at load 2 with shortcuts that skipped rules). Load explains part of that (the poll cost 1.2–1.4 times as
much at load 10 as at load 2 in the research note); Kysely explains more: its share is 20 % now against 8 % then,
because the attempt query (\`withDeployment\` in src/deployments/store.ts, read on \`next\` and on every status report)
joins the deployment and selects its 25 columns one by one as \`d.x as d_x\`, which Kysely parses again on every build
(\`parseAliasedStringReference\` and \`parseStringReference\` 2.8 %), and \`splitAttemptRow\` then takes the row apart
(2.1 %).

Profile of the flow now, SQLite (PostgreSQL in brackets), against the research note's SQLite profile before:

| share now | before | what |
|---|---|---|
| 16–25 % | 52.8 % | SQLite execution (\`stmt.all\`/\`run\` inside Kysely's \`executeQuery\`); the statistics \`GROUP BY\` per report is gone |
| 0 % | 14.2 % | SQLite prepare (statement cache) |
| 20–21 % (15–16 %) | 8.2 % | Kysely building and compiling queries (\`visitNode\`, \`freeze\`, \`parseStringReference\`, \`cloneWithWhere\` …) |
| – (11–12 %) | – | pg driver: \`addFields\` 3.2–3.3 % (rebuilds the row parser from every RowDescription), \`cloneQueryConfig\` 1.2–1.4 % |
| 8–12 % (25–30 %) | 2.9 % | socket write syscalls: the responses, and on PostgreSQL every query's \`writev\` (one per round trip) |
| 10–11 % (7–8 %) | 4.6 % | Flotilla's own code: the statement cache's lookup 2–2.7 % (a Map keyed by each freshly built SQL text, which V8 hashes anew each time, and the LRU update; on PostgreSQL \`nameFor\` 1.5 %, also a Map keyed by the text), \`splitAttemptRow\` 1.6–2.4 % (splits a joined row of about 45 columns with \`Object.entries\`), \`now()\` 0.6 % |
| 7.5–7.7 % (5–8 %) | – | the artifact download's file calls (\`open\`, \`stat\`, \`read\`, \`close\` on the thread pool) for a 4 KiB artifact |
| 6–9 % (4–5 %) | 3.6 % | GC |
| 6–12 % | – | Node core: events, microtasks, \`nextTick\` |
| 5–6 % | 4.2 % | Node http |
| 4–5 % (4 %) | 4.8 % | JWT: one RS256 verification per device (every device has its own token), through jose and WebCrypto |
| 4 % (3 %) | 1.3 % | Fastify |

**What is left on the flow is building SQL and running it.** On SQLite, Kysely's query building (about 240 µs per
request) and SQLite's execution (about 240 µs) are 40 % of the CPU between them, and the statement cache's lookup
of each newly built text adds 2–2.7 %. On PostgreSQL the same Kysely share is there, and the round trips dominate: the
\`writev\` of each query, the pg driver's per-result work, and the backends' 1.07 ms per request (named statements took
most of the planning away in the research note's experiment; the backends' time was not broken down here). What would take it further (estimates, not measured):
build each hot-path query once and keep its compiled text, binding only the parameters, which removes most of Kysely's
share and, the text being the same string each time, the hash of the statement lookup and of \`nameFor\`; fewer round
trips per status report on PostgreSQL (one statement, a CTE, instead of \`begin\`/…/\`commit\`); serve small artifacts
without four thread-pool hops (a cached file handle or one \`readFile\`); \`node:crypto.verify\` instead of jose's
WebCrypto path for the first verification of each token (25 µs against 55–130 µs in the research note); and
\`splitAttemptRow\` with the column lists known in advance.

**Later the same day (2,000 devices, PostgreSQL, \`npm run bench:profile\`).** A device's admission to its phase and
its assignment are one self-committing statement, and the "was that the last device?" check of a deployment to fixed
devices runs right after the event's commit, so the deployment's row is no longer held across an event's round trips:
the main thread went from 64 % to 88 % busy under the profiler (less time waiting on locks), and CPU per request from
1.48 ms + 0.95 ms (Node + backends) to 1.17 ms + 0.78 ms. The flow is CPU-bound now. Shares of the main thread:
socket writes 27 % (one \`writev\` per statement, about 19 statements per device), the pg driver 12 % (\`addFields\`
3.8 %), Kysely 11 %, Node core 11 %, Flotilla's own code 9 %, Node http 7 %, the artifact file calls 6 %, GC 4.5 %,
Fastify 4.4 %, JWT 4 %. At about 1.95 ms of CPU per device request on 2 cores shared with the load generator, the floor
is near 9× the bare round trips; the 8× target needs fewer round trips per status report (success still reads,
\`begin\`, updates, \`commit\`, then checks for the finish), hot queries compiled once, and less per-result work in
the driver. Real-fleet polls run no SQL since check-ins are written behind the request (one statement per 1,000
devices each second).

**The real-fleet poll (\`npm run bench:profile -- --what fleet\`, 10,000-20,000 devices polling once each, load 13-27).**
The load generator's cost of so many distinct requests was a suspect for the real fleet's lower figure; the bare
server given the very same pass answers at 0.8-1.0 of its rate over 500 repeating devices, so it explains little, and
the figure is now divided by that pass. The server's CPU per request on the pass 30 minutes later was 182-206 µs (bare
server 59-64 µs); prom-client's \`inc\`/\`observe\` on every answer took 6-7 % of it (labels hashed, the bucket looked up
as a property name), the liveness cache's composite key, the text check's \`Object.entries\` and the unlogged request
line 1-2 % each. With those gone it is 163-174 µs. What is left is the same as on the repeating poll (socket writes,
Node http, Fastify, Node core: 70 %), plus the check-in bookkeeping: on SQLite the write-behind flush is 5-10 % of the
main thread (1,000 random rows of a 100,000-row table per statement, 15-60 ms each on this machine, synchronous in
better-sqlite3), which is what keeps a real fleet below the repeating poll there. A token's first verification goes
through node:crypto (its share of first contact fell from 22 % to 10 %); first contact was then Kysely building the token
and assignment queries (22 %) and SQLite (16 %); those queries are now compiled once (src/store/prepared.ts), Kysely
24.8 % to 1.9 % of the first contact's main thread, server CPU per first contact 404 to 337 µs (SQLite, 20,000
devices, a later machine).
**Devices through a deployment, after the attempt cache (\`npm run bench:profile -- --what deploy --devices 2000\`, load
7-10, before and after back to back).** A status report goes straight to its update from the attempt this process
last wrote or read (src/deployments/attempt-cache.ts; the update names the remembered status and \`updated_ts\`, so a row
changed by anyone else updates nothing and is read again); hot statements are compiled by Kysely once per shape and
reused; the attempt row is taken apart by known column lists; artifacts of 64 KiB or less are served from the folder
store's memory (the four thread-pool file calls were 8-9 % of the flow). Statements per device (next and four
reports): SQLite 17 to 13, PostgreSQL 14 to 8. CPU per request: PostgreSQL 926 + 646 µs (Node + backends) to 597 + 283
µs, SQLite 786 to 488 µs. Shares now, PostgreSQL: socket writes 30 %, Node core 12.5 %, Flotilla's own code 11 %, pg
driver 10 %, Kysely 7 %, JWT 7 %; SQLite: SQLite execution 26 %, socket writes 21 %, Flotilla 11 %, Kysely 7 %, JWT 7 %.
On PostgreSQL the cluster test found the other half of the old figure: with autovacuum off (as on the CI machine) or
slower than an enrollment burst, fresh tables had no planner statistics and each device's inventory delete walked an
index over every device; the background sweep now ANALYZEs tables past autovacuum's own threshold
(src/store/pg-statistics.ts).

**Downloads and uploads (\`node --cpu-prof\` during the transfer benchmark).** The hawkBit payload file's 0.30 of a plain
file stream (4.8 times its CPU per GiB) was garbage collection, not the ranged read: after about 30 s idle V8 keeps
its heap limits tight, and a read stream's fresh 1 MiB buffer per chunk then set off a full collection every few MiB
(58 % of the busy main thread; the signed link suffered the same when it ran after a pause). Downloads now write the
folder store's bytes through two reused 1 MiB buffers (\`BlobStore.sender\`): 2.3-2.4 s/GiB after an idle pause became
0.38-0.45 s/GiB. On S3 the upload's parts come from five reused 8 MiB buffers (src/blobs/s3-upload.ts, in place of
lib-storage, which copied each part into a fresh buffer behind two 8 MiB stream buffers) and each part's SigV4 SHA-256
runs on the thread pool: server CPU per GiB went from about twice the bare server's to the same. The folder store's
upload measured 0.76 in two full runs on the machine of that session (an AMD EPYC with a fast SHA-256, so fixed costs
showed: 2.8 s of CPU per GiB against the bare server's 1.7; the 1.19 before was an Intel machine). It was then found
written through Node's default 16 KiB write buffer, so every 64 KiB chunk from the socket paused the upload's tee
until it was written (the bare server writes with 1 MiB); it now writes with 1 MiB. On the next machine (AMD EPYC
again, whose SHA-256 costs more: the bare server's CPU is 3.3-4.2 s/GiB) the upload measured 1.09-1.45 of the bare
server in six runs, at 0.9 of its CPU per GiB, and the S3 upload 1.01-1.07. Profiled there, what Flotilla does beyond
the bare server is the multipart parser's boundary search (native \`indexOf\`, 0.28 s/GiB) and the stream hops of the
upload's tee (0.14 s/GiB for 1 GiB in 64 KiB chunks, measured alone): fixed costs that a fast hash leaves visible, so
the figure depends on the machine's SHA-256 speed more than on anything in the upload.

`;

export function render(r: Results): string {
  const rows: string[] = [];
  const row = (figure: string, base: string, ours: string, ratio: string, target = '') =>
    rows.push(`| ${figure} | ${base} | ${ours} | **${ratio}** | ${target} |`);

  for (const d of r.dialects) {
    const p = d.poll;
    if (!p) continue;
    const n = NAME[d.dialect];
    const rateLabel = `${int(p.sizes.offeredRate)} req/s offered`;
    const share = TARGETS.pollShare[d.dialect];
    row(
      `Device poll, ${n}: requests/s at ${rateLabel}`,
      int(p.baseline.fixed.requestsPerSecond),
      int(p.flotilla.fixed.requestsPerSecond),
      rate(p.flotilla.fixed.requestsPerSecond, p.baseline.fixed.requestsPerSecond),
    );
    row(
      `Device poll, ${n}: p50 latency at ${rateLabel}`,
      ms(p.baseline.fixed.p50Ms),
      ms(p.flotilla.fixed.p50Ms),
      time(p.flotilla.fixed.p50Ms, p.baseline.fixed.p50Ms),
    );
    row(
      `Device poll, ${n}: p99 latency at ${rateLabel}`,
      ms(p.baseline.fixed.p99Ms),
      ms(p.flotilla.fixed.p99Ms),
      time(p.flotilla.fixed.p99Ms, p.baseline.fixed.p99Ms),
    );
    row(
      `Device poll, ${n}: most requests/s (${p.sizes.connections} connections)`,
      int(p.baseline.max.requestsPerSecond),
      int(p.flotilla.max.requestsPerSecond),
      rate(p.flotilla.max.requestsPerSecond, p.baseline.max.requestsPerSecond),
      atLeast(p.flotilla.max.requestsPerSecond, p.baseline.max.requestsPerSecond, share),
    );
    row(
      `Device poll, ${n}: p99 latency at most requests/s`,
      ms(p.baseline.max.p99Ms),
      ms(p.flotilla.max.p99Ms),
      time(p.flotilla.max.p99Ms, p.baseline.max.p99Ms),
    );
    row(
      `Device poll, ${n}: p99 latency at half of Flotilla's most (${int(p.halfRate)} req/s offered; median of ${halfWindows(p)})`,
      ms(p.baseline.half.p99Ms),
      ms(p.flotilla.half.p99Ms),
      time(p.flotilla.half.p99Ms, p.baseline.half.p99Ms),
      atMostMs(p.flotilla.half.p99Ms, TARGETS.halfLoadP99Ms),
    );
    const real = p.realFleet;
    row(
      `Device poll as a real fleet polls, ${n}: most requests/s (${int(real.devices)} devices once each, each ${POLL_INTERVAL_MINUTES} min after its last poll; ${realFleetRounds(real)})`,
      int(real.steady.bare.requestsPerSecond),
      int(real.steady.requestsPerSecond),
      rate(real.steady.requestsPerSecond, real.steady.bare.requestsPerSecond),
      atLeast(real.steady.requestsPerSecond, real.steady.bare.requestsPerSecond, share),
    );
    row(
      `Device poll as a real fleet polls, ${n}: p99 latency`,
      ms(real.steady.bare.p99Ms),
      ms(real.steady.polls.p99Ms),
      time(real.steady.polls.p99Ms, real.steady.bare.p99Ms),
    );
    row(
      `Device poll, first contact, ${n}: most requests/s (the same devices' first polls to this server process)`,
      int(real.firstContact.bare.requestsPerSecond),
      int(real.firstContact.requestsPerSecond),
      rate(real.firstContact.requestsPerSecond, real.firstContact.bare.requestsPerSecond),
    );
  }
  for (const d of r.dialects) {
    const x = d.ddi;
    if (!x) continue;
    const n = NAME[d.dialect];
    row(
      `hawkBit DDI poll, ${n}: most requests/s (${x.sizes.connections} connections)`,
      int(x.baseline.requestsPerSecond),
      int(x.flotilla.requestsPerSecond),
      rate(x.flotilla.requestsPerSecond, x.baseline.requestsPerSecond),
    );
    row(
      `hawkBit DDI poll, ${n}: p99 latency at most requests/s`,
      ms(x.baseline.p99Ms),
      ms(x.flotilla.p99Ms),
      time(x.flotilla.p99Ms, x.baseline.p99Ms),
    );
  }
  // CPU from /proc counts in 10 ms ticks: a transfer too small to register on either side gets no CPU row.
  const cpuRow = (figure: string, base: number | undefined, ours: number) => {
    if (base && ours) row(figure, sec(base), sec(ours), time(ours, base));
  };
  for (const x of r.transfers) {
    const store = STORE_NAME[x.store];
    const mib = (x.upload.sizeBytes / 1024 ** 2).toFixed(0);
    row(
      `Artifact upload throughput, ${store} (baseline: bare Node receive + SHA-256 + ${x.store === 's3' ? 'SDK upload' : 'write + fsync'})`,
      mibps(x.upload.baselineMiBps),
      mibps(x.upload.uploadMiBps),
      rate(x.upload.uploadMiBps, x.upload.baselineMiBps),
      atLeast(x.upload.uploadMiBps, x.upload.baselineMiBps, TARGETS.transferShare),
    );
    cpuRow(
      `Server CPU per GiB uploaded, ${store} (baseline: the bare server's)`,
      x.upload.baselineCpuPerGiB,
      x.upload.uploadCpuPerGiB,
    );
    row(
      `Server memory (RSS, sampled) during the ${mib} MiB uploads, ${store} (baseline: idle)`,
      `${x.upload.serverIdleRssMiB.toFixed(0)} MiB`,
      `${x.upload.serverPeakRssMiB.toFixed(0)} MiB`,
      time(x.upload.serverPeakRssMiB, x.upload.serverIdleRssMiB),
    );
    row(
      `Artifact download throughput, ${store} (${x.store === 's3' ? 'presigned link to the object store; baseline: a plain presigned GET' : 'signed link; baseline: a plain file stream'})`,
      mibps(x.download.baselineMiBps),
      mibps(x.download.downloadMiBps),
      rate(x.download.downloadMiBps, x.download.baselineMiBps),
      atLeast(x.download.downloadMiBps, x.download.baselineMiBps, TARGETS.transferShare),
    );
    row(
      `hawkBit payload file download, ${store} (ranged read of the artifact; baseline: a plain ${x.store === 's3' ? 'object stream through the SDK' : 'file stream'})`,
      mibps(x.payload.baselineMiBps),
      mibps(x.payload.downloadMiBps),
      rate(x.payload.downloadMiBps, x.payload.baselineMiBps),
      atLeast(x.payload.downloadMiBps, x.payload.baselineMiBps, TARGETS.transferShare),
    );
    for (const [what, d] of [
      ['signed link', x.download],
      ['hawkBit payload file', x.payload],
    ] as const) {
      cpuRow(
        `Server CPU per GiB downloaded, ${what}, ${store} (baseline: the bare server's)`,
        d.baselineCpuPerGiB,
        d.downloadCpuPerGiB,
      );
    }
    row(
      `Server memory (RSS, sampled) during the downloads, ${store} (baseline: idle before the uploads)`,
      `${x.upload.serverIdleRssMiB.toFixed(0)} MiB`,
      `${Math.max(x.download.serverPeakRssMiB, x.payload.serverPeakRssMiB).toFixed(0)} MiB`,
      time(Math.max(x.download.serverPeakRssMiB, x.payload.serverPeakRssMiB), x.upload.serverIdleRssMiB),
    );
  }
  for (const d of r.dialects) {
    const x = d.deploy;
    if (!x) continue;
    const n = NAME[d.dialect];
    row(
      `Create a deployment for all ${int(x.devices)} devices, ${n}`,
      sec(x.all.baselineSeconds),
      sec(x.all.flotillaSeconds),
      time(x.all.flotillaSeconds, x.all.baselineSeconds),
    );
    row(
      `Create a deployment for a group of ${int(x.groupSize)}, ${n}`,
      sec(x.group.baselineSeconds),
      sec(x.group.flotillaSeconds),
      time(x.group.flotillaSeconds, x.group.baselineSeconds),
    );
    row(
      `Statistics of the ${int(x.devices)}-device deployment, ${n}`,
      ms(x.statistics.baselineMs),
      ms(x.statistics.flotillaMs),
      time(x.statistics.flotillaMs, x.statistics.baselineMs),
    );
  }
  for (const s of r.simulations) {
    row(
      `${int(s.devices)} devices through a deployment: time to all-success, ${NAME[s.dialect]}`,
      sec(s.baselineSeconds),
      sec(s.flotillaSeconds),
      time(s.flotillaSeconds, s.baselineSeconds),
      atMostTimes(s.flotillaSeconds, s.baselineSeconds, TARGETS.deploymentTimes[s.dialect]),
    );
  }
  for (const k of r.kanto) {
    row(
      `${int(k.devices)} Kanto devices through a desired-state deployment over MQTT: time to all-success, ${NAME[k.dialect]}`,
      sec(k.baselineSeconds),
      sec(k.flotillaSeconds),
      time(k.flotillaSeconds, k.baselineSeconds),
    );
  }
  if (r.cluster) {
    const [one] = r.cluster.steps;
    for (const step of r.cluster.steps) {
      const scaling =
        step.processes === 1
          ? ''
          : `; ${(step.polls.requestsPerSecond / one.polls.requestsPerSecond).toFixed(2)} × 1 process`;
      row(
        `Device poll through HAProxy, ${step.processes} process${step.processes === 1 ? '' : 'es'} on PostgreSQL: most requests/s (load ${step.load.toFixed(1)}${scaling})`,
        int(r.cluster.baseline.requestsPerSecond),
        int(step.polls.requestsPerSecond),
        rate(step.polls.requestsPerSecond, r.cluster.baseline.requestsPerSecond),
      );
    }
  }
  const out: string[] = [
    '# Benchmarks',
    '',
    `Written by \`npm run bench\`${r.mode === 'quick' ? ' -- --quick (small sizes: a smoke run, not figures to quote)' : ''} on ${r.date}, in ${sec(r.totalSeconds)}.`,
    '',
    `- **Machine:** ${r.machine}; 1-minute load average ${r.load[0].toFixed(2)} at the start, ${r.load[1].toFixed(2)} at the end.`,
    ...r.dialects.map((d) => `- **${NAME[d.dialect]}:** ${d.database}.`),
    '',
    'Every figure is set against a baseline measured in the same run on the same machine, a moment before or',
    'after it. The ratio is Flotilla ÷ baseline: for rates, the fraction of the baseline reached (1 would be as',
    'fast as the baseline); for times, how many times the baseline it took. Flotilla runs as `flotilla serve` in a',
    'child process, the bare Node baselines in child processes of their own, and the load generator',
    `([autocannon](https://github.com/mcollina/autocannon)) and clients in the benchmark process: on ${cpus().length} cores`,
    'the client and the server share the CPUs, on both sides of every ratio alike. Other work on the machine (see',
    'the load average) moves absolute figures from run to run; measuring each baseline next to its figure cancels',
    'most of that in the ratio. The target column holds the goals set for the figures that have one; they are shown,',
    'not asserted, and "(not met)" marks a figure that misses its goal in this run.',
    '',
    '| figure | baseline | Flotilla | Flotilla / baseline | target |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ];
  if (r.skipped.length) out.push('Not run:', '', ...r.skipped.map((why) => `- ${why}`), '');
  if (r.failed.length) out.push('Failed (no figures):', '', ...r.failed.map((why) => `- ${why}`), '');

  out.push('## How each figure is measured', '');
  const poll = r.dialects.find((d) => d.poll)?.poll;
  if (poll) {
    const polled = r.dialects.filter((d) => d.poll);
    const steady = polled.map((d) => `${NAME[d.dialect]}: ${sec(d.poll?.steadySeconds ?? 0)}`).join(', ');
    const pastTheMinute = polled.some((d) => (d.poll?.steadySeconds ?? 0) >= CHECK_IN_RESOLUTION_SECONDS);
    const realFleet = polled
      .map((d) => {
        const real = d.poll?.realFleet;
        if (!real) return '';
        const passes = [real.firstContact, ...real.steadyRounds]
          .map(
            (x) =>
              `${sec(x.polls.seconds)} + ${sec(x.flushSeconds)} against ${sec(x.bare.seconds)}, ${int(x.checkIns)} check-ins stored`,
          )
          .join(' and ');
        return `${NAME[d.dialect]}: ${int(real.needed)} wanted, ${int(real.devices)} used, signed in ${sec(real.mintSeconds)}; ${passes}`;
      })
      .join('; ');
    out.push(
      '### Device poll',
      '',
      `The store holds ${int(poll.devices)} accepted devices (an auth set and inventory each; every tenth in a static`,
      'group), seeded with bulk SQL inserts and an `ANALYZE` before the server starts' +
        ` (${r.dialects.map((d) => `${NAME[d.dialect]}: ${sec(d.seedSeconds)}`).join(', ')}); each last checked in`,
      `${POLL_INTERVAL_MINUTES} minutes before, as at mender-client's default update poll interval. ${int(poll.tokens)} of them,`,
      'spread over the fleet, poll `POST /api/devices/v2/deployments/device/deployments/next` with their device JWTs',
      '(RS256, checked against `device_tokens` on every request) and their provides, in turn, so every request is',
      'a different device; no deployment is due, so each answer is `204` (the steady state of a fleet). The baseline',
      'is a bare Node `http` server answering every request with an empty `204`. Each side gets',
      `${poll.sizes.warmupSeconds} s of warm-up, then ${poll.sizes.durationSeconds} s at a fixed offered rate of`,
      `${int(poll.sizes.offeredRate)} requests/s (${(poll.sizes.offeredRate / (poll.devices / (POLL_INTERVAL_MINUTES * 60))).toFixed(1)} times what ${int(poll.devices)} devices send`,
      `at that interval), ${poll.sizes.durationSeconds} s as fast as ${poll.sizes.connections} connections go (autocannon), and`,
      `${poll.sizes.durationSeconds} s at half the requests/s Flotilla reached that way (${r.dialects
        .filter((d) => d.poll)
        .map((d) => `${NAME[d.dialect]}: ${int(d.poll?.halfRate ?? 0)}`)
        .join(
          ', ',
        )} requests/s), on both sides, ${poll.sizes.halfWindows} times taking turns: the figure is the median window's p99`,
      '(one window of a shared 2-core machine can be decided by a single stall: 2 to 58 ms back to back, same server).',
      "The fixed rates are paced evenly by the benchmark's own client (request *i* is sent at *i*/rate over up to",
      `${PACED_CONNECTIONS} keep-alive connections; its latency counts from when it was written, or from when it was due if`,
      "it had to wait for a free connection): autocannon's `overallRate` sends each second's quota in a burst at the start of the",
      "second, which at half load is full load half of the time. Latencies at full speed are each response's own time",
      "as autocannon's client sees it (its histogram counts whole milliseconds, too coarse for the baseline). Every",
      'response must be a 2xx, or the run fails. PostgreSQL runs on a fresh database, dropped afterwards.',
      '',
      "A device's check-in time is written at most once a minute. The sampled devices poll several times a second, so",
      ...(pastTheMinute
        ? [
            `they check in during the warm-up; Flotilla's runs above end past the minute after it (${steady}), so their`,
            'check-ins fell due once more inside the half-load windows: one write of all of them, as a fleet of fast',
            'pollers makes once a minute. Otherwise those figures hold no check-in writes. A real fleet polls each device',
            'less than once a minute, and then every',
          ]
        : [
            `they check in during the warm-up, and Flotilla's runs above end within the minute after (${steady}):`,
            'those figures hold no check-in writes. A real fleet polls each device less than once a minute, and then every',
          ]),
      'poll writes one. The real-fleet rows measure that. As many further devices of the fleet as a run of',
      `${poll.sizes.realFleetSeconds} s at the bare server's most requests/s above needs (at most ${int(poll.sizes.realFleetMaxDevices)}) are given device JWTs, signed`,
      'before the runs and outside their timing, and each polls exactly once, as fast as the same connections go:',
      "first each one's first poll to this server process (first contact: its token is verified, looked up and",
      'remembered for the first time), then its stored check-in time is set back by',
      `${POLL_INTERVAL_MINUTES} minutes (the benchmark's own UPDATE while the server idles: the server decides whether a check-in is due`,
      'against the store) and each polls once more: the steady state of a real fleet, a device the server knows',
      `polling again long after its last check-in; ${poll.sizes.realFleetRounds} times over (set back, bare pass, Flotilla's pass), and the`,
      "round with the median ratio is the figure (a pass lasts a second or two, and the bare server's alone went from",
      '14,000 to 28,000 requests/s back to back on this machine). Every request of every pass pays its check-in write. A server',
      'that keeps check-ins in memory and writes them in batches still has the last ones to write when the last answer',
      'comes: right after it, the benchmark reads one of these devices through the management API, which makes the',
      'server write every check-in it holds before answering, and the clock stops there. Requests/s is the devices over',
      "the polls and that write together; afterwards the store must hold every device's check-in from the pass.",
      'The baseline of each pass is the bare server given the very same pass just before it: the same requests (each',
      "device's own token), each sent once, over the same connections, timed the same way from the first request to",
      "the last answer. So the load generator's cost of so many distinct requests and the pass's start-up weigh on",
      'both sides, and what the figure compares is Flotilla answering and writing the check-ins of these devices',
      `against a server that answers and keeps nothing (polls + flush against the bare pass: ${realFleet}).`,
      '',
    );
  }
  const transfer = r.transfers[0];
  if (transfer) {
    out.push(
      '### Artifact upload, downloads and memory',
      '',
      `A ${(transfer.upload.sizeBytes / 1024 ** 3).toFixed(2)} GiB rootfs-image artifact (uncompressed, made by mender-artifact) uploaded`,
      'over HTTP (multipart) to `flotilla serve` on SQLite, on each blob store: parsed, every checksum verified and',
      'written while it streams. Baseline: a bare Node server taking the same request and doing the same physical',
      'work: receive, SHA-256, and write + fsync of a file (folder store) or a multipart upload through the AWS SDK',
      `in the same 8 MiB parts (S3 store, radosgw of Debian's Ceph on this machine). Medians: the baseline of`,
      `${runs(transfer.upload.baselineRuns)}, the upload of ${runs(transfer.upload.uploadRuns)}, taking turns after one untimed baseline run.`,
      'Downloads: the link a Mender device is handed, whole (the folder store: Flotilla checks the link and streams',
      'the blob; S3: a presigned link, so the object store serves it and the baseline is a plain presigned GET), and',
      "the artifact's payload file as a hawkBit DDI target fetches it (Flotilla reads that byte range of the stored",
      'artifact and streams it; baseline: a bare Node server streaming as many bytes from a file, or from the object',
      `through the SDK). Medians of ${runs(transfer.download.runs)} each, taking turns, after one untimed run each. Memory: the`,
      "server's VmRSS sampled every 20 ms during its transfers, against its RSS when idle before the uploads.",
      '',
    );
  }
  const deploy = r.dialects.find((d) => d.deploy)?.deploy;
  if (deploy) {
    out.push(
      '### Creating a deployment and reading its statistics',
      '',
      '`POST /api/management/v1/deployments/deployments` with `all_devices: true`, and',
      '`POST .../deployments/group/{name}` for the static group, timed from request to `201`, on the fleet above',
      `(after the poll benchmark). Baseline: the least SQL that records the same deployment, run by the benchmark on`,
      'its own connection while the server is idle: the deployment row and one set-based',
      '`INSERT INTO device_deployments ... SELECT ... FROM devices` (with the group as an `EXISTS` on the inventory)',
      'in one transaction, into the same indexed table; removed again afterwards. The group figures are medians of',
      `${runs(deploy.group.runs)}. Statistics: \`GET .../deployments/{id}/statistics\` of the all-devices deployment`,
      'over HTTP, against the bare `SELECT status, count(*) ... GROUP BY status` over the same rows on the',
      `benchmark's connection; medians of ${runs(deploy.statistics.runs)}.`,
      '',
      'The `ANALYZE` after seeding matters on SQLite: without planner statistics (a fresh database that never ran',
      "`ANALYZE` or `PRAGMA optimize`), SQLite answers the group's `EXISTS` through the attribute-value index instead",
      'of the attribute primary key, once per device, and creating the group deployment over 100k devices took more',
      'than 15 minutes in a trial run. PostgreSQL gathers its statistics on its own (autovacuum).',
      '',
    );
  }
  const ddi = r.dialects.find((d) => d.ddi)?.ddi;
  if (ddi) {
    const setup = r.dialects
      .filter((d) => d.ddi)
      .map((d) => `${NAME[d.dialect]}: ${sec(d.ddi?.setupSeconds ?? 0)}`)
      .join(', ');
    out.push(
      '### hawkBit DDI poll',
      '',
      `${int(ddi.targets)} DDI targets, created through the operator API (\`POST /api/ddi/v1/targets\` with a target token`,
      `each; with their configData, ${setup}) on the fleet's store, after the deployment benchmark if it ran (so`,
      `they are in none of its deployments; the store also holds the ${int(ddi.fleetDevices)} Mender devices), poll`,
      '`GET /{tenant}/controller/v1/{controllerId}` with `Authorization: TargetToken ...`, in turn, so every request is',
      'another target. Each target sent its configData once, as a DDI client does, and nothing is deployed to it, so',
      `every answer is \`200\` with \`config.polling\` only (${Buffer.byteLength(ddi.answer)} bytes: \`${ddi.answer}\`).`,
      'The baseline is a bare Node `http` server answering every request with `200` and the very same JSON. Each side',
      `gets ${ddi.sizes.warmupSeconds} s of warm-up, then ${ddi.sizes.durationSeconds} s as fast as ${ddi.sizes.connections} connections go (autocannon, as for the`,
      'Mender poll).',
      '',
    );
  }
  const [simulation] = r.simulations;
  if (simulation) out.push('### Devices through a full deployment', '', ...simulation.description, '');
  const [kanto] = r.kanto;
  if (kanto) {
    const setup = r.kanto.map((k) => `${NAME[k.dialect]}: ${sec(k.setupSeconds)}`).join(', ');
    const missed = r.kanto
      .map((k) => `${NAME[k.dialect]}: ${int(k.missedRefresh)} of ${int(k.devices)} devices missed it`)
      .join(', ');
    out.push(
      '### Kanto devices through a desired-state deployment',
      '',
      `${int(kanto.devices)} Kanto devices: the Kanto device simulator of src/agent/kanto (the one \`flotilla simulate\` runs: the`,
      "update manager's UpdateManager feature over Hono-style MQTT, one connection each, in the benchmark process),",
      'registered through the operator API (`POST /api/kanto/v1/devices`) on a fresh store per database and',
      `connected to the embedded broker of \`flotilla serve\`, which then asks each for its current state (set-up: ${setup}; every`,
      'registration and connection checks an scrypt password). Flotilla sends that refresh as the connection comes up,',
      'and a device that has not subscribed yet misses it and gets it only when it is sent again after the 30-s command',
      `timeout (${missed}), which is then most of the set-up. One deployment of a desired state (two containers)`,
      'to all of them, timed from the `POST` that creates it until the statistics count every device a success (the',
      "last device's new current state may still be on its way to inventory then); the deployment must then be",
      'finished. Flotilla pushes `apply` to each device; the device answers `204` and reports `IDENTIFYING`,',
      '`IDENTIFIED`, `RUNNING` (and again after each of download, update and activate, which take no time) and',
      `\`COMPLETED\`, then its new current state: ${int(kanto.messages)} MQTT messages in all, ${int(kanto.commands)} of them to the devices. Flotilla`,
      'looks for Kanto devices with a deployment due every second (`FLOTILLA_KANTO_PUSH_INTERVAL=1`; the default is',
      '5 s): as for the Mender devices above, this measures the server rather than the wait.',
      '',
      'Baseline: the same number of simulated devices moving the same messages (counted on both sides; they must',
      'match) through a bare [aedes](https://github.com/moscajs/aedes) broker, the broker library Flotilla embeds, in',
      "a child process of its own with a responder subscribed inside it, as Flotilla's adapter is. On one HTTP",
      'request the responder publishes the same `apply` to every device at once; then it only counts what comes back.',
      "It checks no credentials, rewrites no topics (the devices use per-device topics instead of Hono's short ones),",
      'and keeps no state. Timed from that request until the responder has received every message. The ratio is',
      "therefore what Flotilla's side of the conversation costs (authorisation, topic rewriting, the store, the",
      'deployment state machine, the push cycle) over the bare message traffic on this machine.',
      '',
    );
  }
  if (r.cluster) {
    const c = r.cluster;
    const spread = c.steps
      .map((step) => `${step.processes}: ${Object.values(step.served).map(int).join(' / ')}`)
      .join('; ');
    out.push(
      '### Device polls through HAProxy with several processes',
      '',
      `A fleet of ${int(c.devices)} devices seeded on a fresh PostgreSQL database as for the poll benchmark;`,
      `${int(c.tokens)} of them poll \`POST /api/devices/v2/deployments/device/deployments/next\` in turn (nothing deployed: \`204\`),`,
      `${c.sizes.warmupSeconds} s of warm-up then ${c.sizes.durationSeconds} s as fast as ${c.sizes.connections} connections go, through HAProxy with`,
      `deploy/multi-node/haproxy.cfg (round robin, keep-alive) in front of the first ${c.steps.map((s) => s.processes).join(', ')} of ${c.sizes.processes} \`flotilla serve\``,
      'processes sharing the database (all of them run throughout). Requests HAProxy sent to each process (its `stot`), by step',
      `(warm-up included): ${spread}. Baseline: the same load through the same HAProxy in front of one bare Node server`,
      'answering an empty `204`, the ceiling of the balancer and the load generator here. The ratio to 1 process is the',
      'scaling; on this machine the client, HAProxy, PostgreSQL and every server process share its cores, so processes',
      'beyond the cores compete for them rather than add capacity (the load average is given with each figure).',
      '',
    );
  }
  out.push(WHERE_THE_TIME_GOES);
  return out.join('\n');
}
