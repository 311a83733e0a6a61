// `npm run bench`: runs the benchmarks and writes their figures, each set against a baseline measured in the
// same run, to BENCHMARKS.md with the machine's description.
//
//   npm run bench                      the full run (100k devices, 1 GiB artifact, 10k devices through a deployment)
//   npm run bench -- --quick           small sizes, a smoke run; prints the report, writes no file
//   --only poll,deploy,ddi,transfer,simulate,kanto,cluster   some benchmarks only   --dialects sqlite   one database only
//   --stores folder,s3                 blob stores of the transfer benchmark (default: both when radosgw is installed)
//   --out FILE                         where to write the report (default: BENCHMARKS.md for the full run)
// BENCH_UPLOAD_MIB sets the artifact size of the upload and download benchmarks.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { sql } from 'kysely';
import { parseFlags } from '../src/config.js';
import { benchCluster, type ClusterSizes, clusterMissing } from './cluster.js';
import { benchDdi, type DdiSizes } from './ddi.js';
import { benchDeployments, type DeploySizes } from './deploy.js';
import { type Dialect, type Fleet, type FleetOptions, fleetEnv, seedFleet } from './fleet.js';
import { benchKanto, type KantoSizes } from './kanto.js';
import { benchPoll, POLL_INTERVAL_MINUTES, type PollSizes } from './poll.js';
import { type DialectResults, type Results, render } from './report.js';
import { benchSimulation, type SimulationSizes } from './simulate.js';
import { machine, progress, secondsSince, startServer } from './support.js';
import { benchTransfer, STORES, type StoreName, s3Missing, type TransferSizes } from './transfer.js';

export interface Sizes {
  fleet: FleetOptions;
  poll: PollSizes;
  transfer: TransferSizes;
  deploy: DeploySizes;
  ddi: DdiSizes;
  simulation: SimulationSizes;
  kanto: KantoSizes;
  cluster: ClusterSizes;
}

export const FULL: Sizes = {
  fleet: { devices: 100_000, tokens: 500, groupEvery: 10, checkedInMinutesAgo: POLL_INTERVAL_MINUTES },
  poll: {
    durationSeconds: 10,
    warmupSeconds: 3,
    offeredRate: 200,
    connections: 10,
    halfWindows: 3,
    realFleetSeconds: 1,
    realFleetMaxDevices: 40_000,
    realFleetRounds: 3,
  },
  transfer: { sizeMiB: Number(process.env.BENCH_UPLOAD_MIB ?? 1024), uploadRuns: 2, baselineRuns: 3, downloadRuns: 3 },
  deploy: { groupRuns: 3, statisticsRuns: 20 },
  ddi: { targets: 500, durationSeconds: 10, warmupSeconds: 3, connections: 10 },
  simulation: { devices: 10_000, concurrency: 50 },
  kanto: { devices: 150, concurrency: 10 },
  cluster: {
    fleet: { devices: 10_000, tokens: 500, groupEvery: 10, checkedInMinutesAgo: POLL_INTERVAL_MINUTES },
    durationSeconds: 10,
    warmupSeconds: 3,
    connections: 30,
    processes: 3,
  },
};

export const QUICK: Sizes = {
  fleet: { devices: 2_000, tokens: 50, groupEvery: 10, checkedInMinutesAgo: POLL_INTERVAL_MINUTES },
  poll: {
    durationSeconds: 2,
    warmupSeconds: 1,
    offeredRate: 100,
    connections: 5,
    halfWindows: 1,
    realFleetSeconds: 1,
    realFleetMaxDevices: 2_000,
    realFleetRounds: 1,
  },
  transfer: { sizeMiB: Number(process.env.BENCH_UPLOAD_MIB ?? 32), uploadRuns: 1, baselineRuns: 1, downloadRuns: 1 },
  deploy: { groupRuns: 1, statisticsRuns: 3 },
  ddi: { targets: 50, durationSeconds: 2, warmupSeconds: 1, connections: 5 },
  simulation: { devices: 200, concurrency: 20 },
  kanto: { devices: 50, concurrency: 10 },
  cluster: {
    fleet: { devices: 2_000, tokens: 50, groupEvery: 10, checkedInMinutesAgo: POLL_INTERVAL_MINUTES },
    durationSeconds: 2,
    warmupSeconds: 1,
    connections: 10,
    processes: 3,
  },
};

export type Benchmark = 'poll' | 'deploy' | 'ddi' | 'transfer' | 'simulate' | 'kanto' | 'cluster';
export const BENCHMARKS: Benchmark[] = ['poll', 'deploy', 'ddi', 'transfer', 'simulate', 'kanto', 'cluster'];
/** The benchmarks that run on the seeded 100k fleet, one store per database. */
const ON_FLEET: Benchmark[] = ['poll', 'deploy', 'ddi'];

async function databaseVersion(fleet: Fleet): Promise<string> {
  const store = await fleet.open();
  try {
    if (fleet.dialect === 'sqlite') {
      const { rows } = await sql<{ v: string }>`select sqlite_version() as v`.execute(store.db);
      return `SQLite ${rows[0].v} (better-sqlite3, WAL, synchronous=NORMAL), in the data directory`;
    }
    const { rows } = await sql<{ v: string }>`show server_version`.execute(store.db);
    return `PostgreSQL ${Object.values(rows[0])[0]} on 127.0.0.1 (the pg driver, pool of 10)`;
  } finally {
    await store.close();
  }
}

/**
 * Seeds the fleet on one database, runs the poll, deployment and DDI benchmarks against it, and drops it. The DDI
 * targets come last: made before the deployments, they would be devices of the all-devices deployment.
 */
async function benchDialect(
  dialect: Dialect,
  work: string,
  sizes: Sizes,
  only: Set<Benchmark>,
  failed: string[],
): Promise<DialectResults> {
  const dataDir = join(work, `fleet-${dialect}`);
  progress(`${dialect}: seeding ${sizes.fleet.devices} devices`);
  const fleet = await seedFleet(dialect, dataDir, sizes.fleet);
  try {
    const results: DialectResults = {
      dialect,
      database: await databaseVersion(fleet),
      seedSeconds: fleet.seedSeconds,
    };
    let server = await startServer(dataDir, fleetEnv(fleet));
    try {
      const name = NAMES[dialect];
      if (only.has('poll'))
        results.poll = await attempt(failed, `Device poll, ${name}`, () => benchPoll(server, fleet, sizes.poll));
      if (only.has('poll') && only.has('deploy')) {
        // Fresh statistics and a fresh server process for the deployment figures, as after a restart: the real-fleet
        // poll's check-ins changed the inventory. (Statistics sampled with an analysis_limit sent the group search
        // to a plan that ran for minutes; src/store/db.ts now analyzes in full.)
        await server.stop();
        if (dialect === 'sqlite') {
          const store = await fleet.open();
          try {
            await sql`analyze`.execute(store.db);
          } finally {
            await store.close();
          }
        }
        server = await startServer(dataDir, fleetEnv(fleet));
      }
      if (only.has('deploy'))
        results.deploy = await attempt(failed, `Deployments, ${name}`, () =>
          benchDeployments(server, fleet, dataDir, sizes.deploy),
        );
      if (only.has('ddi'))
        results.ddi = await attempt(failed, `hawkBit DDI poll, ${name}`, () => benchDdi(server, fleet, sizes.ddi));
    } finally {
      await server.stop();
    }
    return results;
  } finally {
    await fleet.drop();
  }
}

const NAMES = { sqlite: 'SQLite', postgres: 'PostgreSQL' } as const;

/**
 * Runs one benchmark; a failure (an error answer, a stalled deployment) is recorded with its reason and the run
 * goes on, so that one broken path does not cost the figures of all the others.
 */
async function attempt<T>(failed: string[], what: string, run: () => Promise<T>): Promise<T | undefined> {
  try {
    return await run();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    progress(`${what} failed: ${reason}`);
    failed.push(`${what}: ${reason}`);
    return undefined;
  }
}

export async function runBenchmarks(
  sizes: Sizes,
  options: { mode: 'full' | 'quick'; only: Set<Benchmark>; dialects: Dialect[]; stores?: StoreName[] },
): Promise<Results> {
  const start = process.hrtime.bigint();
  const work = mkdtempSync(join(tmpdir(), 'flotilla-bench-'));
  const results: Results = {
    date: new Date().toISOString().slice(0, 10),
    mode: options.mode,
    machine: machine(),
    load: [loadavg()[0], 0],
    totalSeconds: 0,
    dialects: [],
    transfers: [],
    simulations: [],
    kanto: [],
    skipped: [],
    failed: [],
  };
  try {
    if (ON_FLEET.some((name) => options.only.has(name))) {
      for (const dialect of options.dialects)
        results.dialects.push(await benchDialect(dialect, work, sizes, options.only, results.failed));
    }
    if (options.only.has('transfer')) {
      let stores = options.stores ?? ['folder'];
      const missing = stores.includes('s3') ? s3Missing() : undefined;
      if (missing) {
        results.skipped.push(`Transfers on the S3 blob store: ${missing}`);
        stores = stores.filter((s) => s !== 's3');
      }
      const transfers = await attempt(results.failed, 'Artifact upload and download', () =>
        benchTransfer(join(work, 'transfer'), sizes.transfer, stores),
      );
      results.transfers = transfers ?? [];
    }
    if (options.only.has('simulate')) {
      for (const dialect of options.dialects) {
        const simulation = await attempt(results.failed, `Devices through a deployment, ${NAMES[dialect]}`, () =>
          benchSimulation(dialect, join(work, 'simulation'), sizes.simulation),
        );
        if (simulation) results.simulations.push(simulation);
      }
    }
    if (options.only.has('kanto')) {
      for (const dialect of options.dialects) {
        const kanto = await attempt(results.failed, `Kanto devices through a deployment, ${NAMES[dialect]}`, () =>
          benchKanto(dialect, join(work, 'kanto'), sizes.kanto),
        );
        if (kanto) results.kanto.push(kanto);
      }
    }
    if (options.only.has('cluster')) {
      const missing = clusterMissing();
      if (missing) results.skipped.push(`Device polls through HAProxy with several processes: ${missing}`);
      else if (!options.dialects.includes('postgres'))
        results.skipped.push('Device polls through HAProxy with several processes: PostgreSQL only');
      else
        results.cluster = await attempt(results.failed, 'Device polls through HAProxy with several processes', () =>
          benchCluster(join(work, 'cluster'), sizes.cluster),
        );
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  results.totalSeconds = secondsSince(start);
  results.load[1] = loadavg()[0];
  return results;
}

async function main(): Promise<void> {
  const { flags } = parseFlags(process.argv.slice(2));
  const quick = flags.quick === 'true';
  const only = new Set((flags.only ? flags.only.split(',') : BENCHMARKS) as Benchmark[]);
  for (const name of only) if (!BENCHMARKS.includes(name)) throw new Error(`unknown benchmark ${name}`);
  const dialects = (flags.dialects ? flags.dialects.split(',') : ['sqlite', 'postgres']) as Dialect[];
  for (const d of dialects) if (d !== 'sqlite' && d !== 'postgres') throw new Error(`unknown dialect ${d}`);
  const stores = (flags.stores ? flags.stores.split(',') : STORES) as StoreName[];
  for (const s of stores) if (!STORES.includes(s)) throw new Error(`unknown blob store ${s}`);
  const mode = quick ? 'quick' : 'full';
  const results = await runBenchmarks(quick ? QUICK : FULL, { mode, only, dialects, stores });
  const report = render(results);
  const out = flags.out ?? (quick ? undefined : 'BENCHMARKS.md');
  if (out) writeFileSync(resolve(out), report);
  process.stdout.write(`${report}\n`);
  if (out) progress(`written to ${out}`);
  if (results.failed.length) {
    progress(`${results.failed.length} benchmark(s) failed (see "Failed" in the report)`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.dirname, 'run.ts')) {
  await main();
}
