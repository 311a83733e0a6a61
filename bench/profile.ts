// `npm run bench:profile -- [--dialect sqlite|postgres] [--what poll|fleet|deploy] [--devices N] [--seconds S] [--keep DIR]`:
// profiles `flotilla serve` (node --cpu-prof) under one device load and prints, as markdown, where its main thread's
// time went (self time by category, the top 15 self frames) and the server's CPU per request.
//
// - poll: a fleet of 20,000 seeded devices (500 with device JWTs, last checked in 30 minutes before), no deployment;
//   the tokened devices poll `next` at full speed (autocannon, 10 connections): 3 s of warm-up (their check-ins),
//   then S = 8 s measured. The same load runs first against a server without the profiler (its CPU per request and
//   requests/s are the figures to compare; the profiler costs a little) and against a bare Node server answering 204.
// - fleet: the real-fleet poll of the poll benchmark (bench/poll.ts): N = 20,000 further devices of a 40,000-device
//   fleet get a token each and poll `next` once each, as fast as 10 connections go, with every poll's check-in due:
//   a first pass (first contact, profiled as its own window), their check-ins set back 30 minutes, then the measured
//   pass, timed to the write of the last check-in (a management read of one of them flushes them). The bare server
//   gets the very same pass.
// - deploy: the simulation benchmark's flow (bench/simulate.ts) for N = 2,000 seeded devices, 50 at a time: one
//   deployment to all of them, each device doing next, downloading, the download, installing, rebooting, success.
//
// CPU per request comes from /proc (user + system of the server process, all its threads, over the measured window)
// and from the profile (main thread busy time ÷ requests). On PostgreSQL the backends' CPU over the same window is
// read from /proc too (their pids from pg_stat_activity), when the database runs on this machine.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import pg from 'pg';
import { parseFlags } from '../src/config.js';
import { call, login, smallArtifact, uploadArtifact } from './api.js';
import { profileMarkdown, summariseProfile } from './cpuprofile.js';
import { BENCH_RELEASE } from './deploy.js';
import {
  BENCH_DEVICE_TYPE,
  BENCH_INSTALLED,
  type Dialect,
  type Fleet,
  fleetEnv,
  PG_ADMIN_URL,
  seedFleet,
} from './fleet.js';
import { load } from './load.js';
import { checkInsSince, POLL_INTERVAL_MINUTES, POLL_PATH, setCheckInsBack } from './poll.js';
import { drive } from './simulate.js';
import { cpuSeconds, machine, progress, type Server, startConstantServer, startServer } from './support.js';

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

/** CPU seconds of the PostgreSQL backends serving `databaseUrl` (0 when they are not on this machine). */
async function backendCpu(databaseUrl: string): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  if (!databaseUrl) return out;
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    const name = new URL(databaseUrl).pathname.slice(1);
    const { rows } = await client.query<{ pid: number }>(
      'select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()',
      [name],
    );
    for (const { pid } of rows) {
      try {
        out.set(pid, cpuSeconds(pid));
      } catch {
        // not on this machine, or gone
      }
    }
  } finally {
    await client.end();
  }
  return out;
}

function backendDelta(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? 0);
  return total;
}

interface Window {
  fromUs: number;
  toUs: number;
  requests: number;
  serverCpuSeconds: number;
  backendCpuSeconds: number;
  requestsPerSecond: number;
}

/** Runs `work` (which resolves with its request count) and measures the server's and the backends' CPU around it. */
async function measured(server: Server, fleet: Fleet, work: () => Promise<number>): Promise<Window> {
  const pid = server.process.pid ?? 0;
  const backendsBefore = await backendCpu(fleet.databaseUrl);
  const cpuBefore = cpuSeconds(pid);
  const fromUs = nowUs();
  const requests = await work();
  const toUs = nowUs();
  const serverCpuSeconds = cpuSeconds(pid) - cpuBefore;
  const backendCpuSeconds = backendDelta(backendsBefore, await backendCpu(fleet.databaseUrl));
  return {
    fromUs,
    toUs,
    requests,
    serverCpuSeconds,
    backendCpuSeconds,
    requestsPerSecond: requests / ((toUs - fromUs) / 1e6),
  };
}

async function startProfiled(dataDir: string, fleet: Fleet, profileDir: string): Promise<Server> {
  return startServer(dataDir, fleetEnv(fleet), { execArgv: ['--cpu-prof', '--cpu-prof-dir', profileDir] });
}

/** Where to keep the .cpuprofile files (`--keep DIR`, to open them in Chrome DevTools); by default they go. */
let keepDir: string | undefined;

/** Stops the server (SIGTERM: it closes and exits, and Node writes the profile) and returns the profile's path. */
async function stopForProfile(server: Server, profileDir: string): Promise<string> {
  await server.stop();
  const [file] = readdirSync(profileDir).filter((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile in ${profileDir}: the server did not exit cleanly`);
  if (keepDir) {
    mkdirSync(keepDir, { recursive: true });
    const kept = join(keepDir, `${basename(profileDir)}.cpuprofile`);
    copyFileSync(join(profileDir, file), kept);
    progress(`profile kept in ${kept}`);
  }
  return join(profileDir, file);
}

const us = (seconds: number, requests: number) => `${((seconds * 1e6) / requests).toFixed(0)} µs`;

/** One row of the table; `backends`: the PostgreSQL column, '' for none. */
function windowRow(what: string, w: Window, dialect: Dialect, backends = us(w.backendCpuSeconds, w.requests)): string {
  return (
    `| ${what} | ${w.requests.toLocaleString('en-US')} | ${w.requestsPerSecond.toFixed(0)} | ${us(w.serverCpuSeconds, w.requests)} |` +
    (dialect === 'postgres' ? ` ${backends} |` : '')
  );
}

function tableHead(dialect: Dialect): string[] {
  return dialect === 'postgres'
    ? [
        '| run | requests | req/s | server CPU / request (/proc) | PostgreSQL backends CPU / request |',
        '|---|---|---|---|---|',
      ]
    : ['| run | requests | req/s | server CPU / request (/proc) |', '|---|---|---|---|'];
}

async function profilePoll(dialect: Dialect, work: string, devices: number, seconds: number): Promise<string> {
  const dataDir = join(work, `fleet-${dialect}`);
  progress(`profile poll (${dialect}): seeding ${devices} devices`);
  const fleet = await seedFleet(dialect, dataDir, {
    devices,
    tokens: 500,
    groupEvery: 10,
    checkedInMinutesAgo: POLL_INTERVAL_MINUTES,
  });
  try {
    const body = JSON.stringify({
      device_provides: { device_type: BENCH_DEVICE_TYPE, artifact_name: BENCH_INSTALLED },
      update_control_map: false,
    });
    const requests = fleet.tokens.map((token) => ({ path: POLL_PATH, authorization: `Bearer ${token}` }));
    const run = async (url: string, durationSeconds: number) =>
      (await load({ url, method: 'POST', body, requests, connections: 10, durationSeconds })).requests;

    const lines = [...tableHead(dialect)];
    // The bare server, then Flotilla without and with the profiler.
    const constant = await startConstantServer();
    try {
      await run(constant.url, 2);
      const bare = await measured(constant, { ...fleet, databaseUrl: '' }, () => run(constant.url, seconds));
      lines.push(windowRow('bare Node `http` (204)', bare, dialect, '–'));
    } finally {
      await constant.stop();
    }
    const plain = await startServer(dataDir, fleetEnv(fleet));
    try {
      progress(`profile poll (${dialect}): without the profiler, 3 s warm-up, ${seconds} s measured`);
      await run(plain.url, 3);
      lines.push(windowRow('Flotilla', await measured(plain, fleet, () => run(plain.url, seconds)), dialect));
    } finally {
      await plain.stop();
    }
    const profileDir = join(work, `profile-poll-${dialect}`);
    const server = await startProfiled(dataDir, fleet, profileDir);
    let window: Window;
    let file: string;
    try {
      progress(`profile poll (${dialect}): with --cpu-prof, 3 s warm-up, ${seconds} s measured`);
      await run(server.url, 3);
      window = await measured(server, fleet, () => run(server.url, seconds));
      lines.push(windowRow('Flotilla under `--cpu-prof`', window, dialect));
    } finally {
      file = await stopForProfile(server, profileDir);
    }
    const summary = summariseProfile(file, window.fromUs, window.toUs);
    lines.push(
      '',
      `Profile (--cpu-prof): main thread busy ${us(summary.busySeconds, window.requests)} per request.`,
      '',
      profileMarkdown(summary),
    );
    return lines.join('\n');
  } finally {
    await fleet.drop();
  }
}

/**
 * The real-fleet poll: `count` devices polling once each, every check-in due. The measured window ends when the
 * last check-in is written (a management read of the last device makes the server write what it holds).
 */
async function profileFleet(dialect: Dialect, work: string, count: number): Promise<string> {
  const dataDir = join(work, `fleet-${dialect}`);
  progress(`profile fleet (${dialect}): seeding ${2 * count} devices`);
  const fleet = await seedFleet(dialect, dataDir, {
    devices: 2 * count,
    tokens: 10,
    groupEvery: 10,
    checkedInMinutesAgo: POLL_INTERVAL_MINUTES,
  });
  try {
    const body = JSON.stringify({
      device_provides: { device_type: BENCH_DEVICE_TYPE, artifact_name: BENCH_INSTALLED },
      update_control_map: false,
    });
    progress(`profile fleet (${dialect}): minting ${count} device tokens`);
    const minted = await fleet.mintTokens(count);
    const requests = minted.tokens.map((token) => ({ path: POLL_PATH, authorization: `Bearer ${token}` }));
    const once = async (url: string) =>
      (await load({ url, method: 'POST', body, requests, connections: 10, durationSeconds: 0, once: true })).requests;
    const last = `/api/management/v2/devauth/devices/${minted.deviceIds[count - 1]}`;
    /** One pass, timed to the last check-in written; checks that every device's check-in is stored. */
    const pass = async (server: Server, admin: string) => {
      const since = new Date().toISOString();
      const window = await measured(server, fleet, async () => {
        const n = await once(server.url);
        await call(server.url, admin, 'GET', last, 200);
        return n;
      });
      const stored = await checkInsSince(fleet, since, count);
      if (stored !== count) throw new Error(`profile fleet: ${stored} check-ins stored, ${count} expected`);
      return window;
    };
    /** First contact, then the known devices 30 minutes later. */
    const passes = async (server: Server) => {
      const admin = await login(server.url, fleet.adminEmail, fleet.adminPassword);
      const first = await pass(server, admin);
      await setCheckInsBack(fleet, new Date(Date.now() - 3600_000).toISOString(), POLL_INTERVAL_MINUTES);
      const steady = await pass(server, admin);
      return { first, steady };
    };

    const lines = [...tableHead(dialect)];
    const constant = await startConstantServer();
    try {
      await once(constant.url);
      const bare = await measured(constant, { ...fleet, databaseUrl: '' }, () => once(constant.url));
      lines.push(windowRow('bare Node `http` (204), the same pass', bare, dialect, '–'));
    } finally {
      await constant.stop();
    }
    const plain = await startServer(dataDir, fleetEnv(fleet));
    try {
      progress(`profile fleet (${dialect}): without the profiler, ${count} devices twice`);
      const { first, steady } = await passes(plain);
      lines.push(windowRow('Flotilla, first contact', first, dialect));
      lines.push(windowRow('Flotilla, 30 minutes later', steady, dialect));
    } finally {
      await plain.stop();
    }
    await setCheckInsBack(fleet, new Date(Date.now() - 3600_000).toISOString(), POLL_INTERVAL_MINUTES);
    const profileDir = join(work, `profile-fleet-${dialect}`);
    const server = await startProfiled(dataDir, fleet, profileDir);
    let windows: { first: Window; steady: Window };
    let file: string;
    try {
      progress(`profile fleet (${dialect}): with --cpu-prof, ${count} devices twice`);
      windows = await passes(server);
      lines.push(windowRow('Flotilla under `--cpu-prof`, first contact', windows.first, dialect));
      lines.push(windowRow('Flotilla under `--cpu-prof`, 30 minutes later', windows.steady, dialect));
    } finally {
      file = await stopForProfile(server, profileDir);
    }
    for (const [what, window] of [
      ['30 minutes later (the real fleet)', windows.steady],
      ['first contact', windows.first],
    ] as const) {
      const summary = summariseProfile(file, window.fromUs, window.toUs);
      lines.push(
        '',
        `Profile (--cpu-prof), ${what}: main thread busy ${us(summary.busySeconds, window.requests)} per request.`,
        '',
        profileMarkdown(summary),
      );
    }
    return lines.join('\n');
  } finally {
    await fleet.drop();
  }
}

/**
 * One deployment of a fresh fleet of `devices`, driven as the simulation benchmark does; `profileDir`: the server
 * runs under --cpu-prof and the profile is returned too.
 */
async function deployOnce(
  dialect: Dialect,
  work: string,
  devices: number,
  profileDir?: string,
): Promise<{ window: Window; bare?: Window; file?: string }> {
  const dataDir = join(work, `fleet-${dialect}-${profileDir ? 'profiled' : 'plain'}`);
  progress(`profile deploy (${dialect}): seeding ${devices} devices with a device JWT each`);
  const fleet = await seedFleet(dialect, dataDir, { devices, tokens: devices, groupEvery: 10 });
  try {
    const server = profileDir
      ? await startProfiled(dataDir, fleet, profileDir)
      : await startServer(dataDir, fleetEnv(fleet));
    let window: Window;
    let file: string | undefined;
    try {
      const token = await login(server.url, fleet.adminEmail, fleet.adminPassword);
      await uploadArtifact(server.url, token, await smallArtifact(work, BENCH_RELEASE, BENCH_DEVICE_TYPE));
      progress(
        `profile deploy (${dialect}): ${devices} devices through a deployment, 50 at a time${profileDir ? ', under --cpu-prof' : ''}`,
      );
      window = await measured(server, fleet, async () => {
        await call(server.url, token, 'POST', '/api/management/v1/deployments/deployments', 201, {
          name: 'profile',
          artifact_name: BENCH_RELEASE,
          all_devices: true,
        });
        return (await drive(server.url, fleet.tokens, 50, false)).requests;
      });
    } finally {
      if (profileDir) file = await stopForProfile(server, profileDir);
      else await server.stop();
    }
    if (profileDir) return { window, file };
    progress(`profile deploy (${dialect}): the same round trips against a bare server`);
    const constant = await startConstantServer();
    try {
      const bare = await measured(
        constant,
        { ...fleet, databaseUrl: '' },
        async () => (await drive(constant.url, fleet.tokens, 50, true)).requests,
      );
      return { window, bare };
    } finally {
      await constant.stop();
    }
  } finally {
    await fleet.drop();
  }
}

async function profileDeploy(dialect: Dialect, work: string, devices: number): Promise<string> {
  const plain = await deployOnce(dialect, work, devices);
  const profiled = await deployOnce(dialect, work, devices, join(work, `profile-deploy-${dialect}`));
  const bare = plain.bare as Window;
  const summary = summariseProfile(profiled.file as string, profiled.window.fromUs, profiled.window.toUs);
  const took = (w: Window) => (w.toUs - w.fromUs) / 1e6;
  const n = devices.toLocaleString('en-US');
  const row = (what: string, w: Window) =>
    windowRow(
      `${what}, ${n} devices in ${took(w).toFixed(1)} s (${(took(w) / took(bare)).toFixed(1)} × bare)`,
      w,
      dialect,
    );
  return [
    ...tableHead(dialect),
    windowRow(`bare Node \`http\` (204), the same round trips in ${took(bare).toFixed(1)} s`, bare, dialect, '–'),
    row('Flotilla', plain.window),
    row('Flotilla under `--cpu-prof`', profiled.window),
    '',
    `Profile (--cpu-prof): main thread busy ${us(summary.busySeconds, profiled.window.requests)} per request.`,
    '',
    profileMarkdown(summary),
  ].join('\n');
}

async function main(): Promise<void> {
  const { flags } = parseFlags(process.argv.slice(2));
  const dialect = (flags.dialect ?? 'sqlite') as Dialect;
  if (dialect !== 'sqlite' && dialect !== 'postgres') throw new Error(`unknown dialect ${dialect}`);
  const what = flags.what ?? 'poll';
  if (what !== 'poll' && what !== 'fleet' && what !== 'deploy') throw new Error(`unknown profile ${what}`);
  const devices = Number(flags.devices ?? (what === 'deploy' ? 2_000 : 20_000));
  const seconds = Number(flags.seconds ?? 8);
  keepDir = flags.keep ? resolve(flags.keep) : undefined;
  const work = mkdtempSync(join(tmpdir(), 'flotilla-profile-'));
  const load0 = loadavg()[0];
  try {
    const body =
      what === 'poll'
        ? await profilePoll(dialect, work, devices, seconds)
        : what === 'fleet'
          ? await profileFleet(dialect, work, devices)
          : await profileDeploy(dialect, work, devices);
    const name = dialect === 'sqlite' ? 'SQLite' : 'PostgreSQL';
    process.stdout.write(
      [
        `### ${{ poll: 'Device poll', fleet: 'Device poll as a real fleet polls', deploy: 'Devices through a deployment' }[what]}, ${name} (${new Date().toISOString().slice(0, 10)})`,
        '',
        `${machine()}; 1-minute load average ${load0.toFixed(2)} at the start, ${loadavg()[0].toFixed(2)} at the end.`,
        '',
        body,
        '',
      ].join('\n'),
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.dirname, 'profile.ts')) {
  await main();
}
