// Device poll: `POST /api/devices/v2/deployments/device/deployments/next` with device JWTs while the store holds the
// whole fleet, against a bare Node `http` server answering the same empty 204 on the same machine. Four loads:
// - a fixed offered rate, paced evenly (latency when the server keeps up);
// - as fast as autocannon's connections go (the most requests per second);
// - a paced rate of half Flotilla's own most requests/s (the latency a fleet sees with headroom to spare);
// - the real fleet: as fast as the connections go, but every request from another device whose last check-in is older
//   than a minute, so each pays the check-in (written at most once a minute per device) that the sampled devices,
//   polling several times a second, pay only once a minute. Twice: each device's first poll to this server process
//   (first contact, cold caches), then, its stored check-in set back half an hour, its next (a known device). Each
//   pass has its own baseline: the bare server given the very same pass (the same requests, once each, on as many
//   connections) just before, so the load generator's cost of so many distinct requests is on both sides.
// The sampled devices check in during the warm-up, and Flotilla's three steady-state runs all end within the
// minute after, so none of their check-ins falls due inside those runs.
import { call, login } from './api.js';
import type { Fleet } from './fleet.js';
import { BENCH_DEVICE_TYPE, BENCH_INSTALLED } from './fleet.js';
import { type LoadFigures, load, type RequestVariant } from './load.js';
import { PACED_CONNECTIONS, paced } from './paced.js';
import { progress, type Server, secondsSince, startConstantServer } from './support.js';

export const POLL_PATH = '/api/devices/v2/deployments/device/deployments/next';
/** How long ago the fleet's devices last checked in, as seeded: mender-client's default update poll interval. */
export const POLL_INTERVAL_MINUTES = 30;
/** A device's check-in is written at most once a minute (src/devices/rules.ts). */
export const CHECK_IN_RESOLUTION_SECONDS = 60;

export interface PollSizes {
  durationSeconds: number;
  warmupSeconds: number;
  /** The fixed offered load, requests per second. */
  offeredRate: number;
  connections: number;
  /** Windows at half of Flotilla's most requests/s, each side, taking turns; the median p99 is the figure. */
  halfWindows: number;
  /**
   * The real-fleet poll gets as many devices as this many seconds of the bare server's most requests/s need, so that
   * even the baseline's pass lasts long enough for start-up (connections, the first second's ramp) not to dominate
   * it; Flotilla's pass lasts longer. At most realFleetMaxDevices (signing a token costs ~0.4 ms on 2 cores).
   */
  realFleetSeconds: number;
  realFleetMaxDevices: number;
  /**
   * Steady real-fleet rounds, each its own bare pass and Flotilla's: a pass lasts a second or two, and on a shared
   * 2-core machine the bare server's pass alone went from 14,000 to 28,000 requests/s back to back.
   */
  realFleetRounds: number;
}

/** One pass of the real-fleet devices: each polls once, as fast as the connections go. */
export interface RealFleetPass {
  /** The bare server given the same pass just before (the same requests once each, the same connections). */
  bare: LoadFigures;
  /** The polls (autocannon's own figures: latency, and the run's time). */
  polls: LoadFigures;
  /**
   * Seconds from the last answer until the server had written every check-in it still held in memory (a server
   * that writes check-ins behind, in batches), asked for by a management read of one of the devices.
   */
  flushSeconds: number;
  /** Devices per second over the polls and that last write together: the figure. */
  requestsPerSecond: number;
  /** Devices whose check-in the store holds from this pass, read afterwards: each poll's write, shown done. */
  checkIns: number;
}

export interface RealFleetResult {
  /** Devices that polled once in each pass. */
  devices: number;
  /** How many a run of realFleetSeconds at the bare server's most requests/s (measured just before) needs. */
  needed: number;
  /** Seconds spent minting their tokens (not part of any figure). */
  mintSeconds: number;
  /** Each device's first poll to this server process (its token new to the server's caches). */
  firstContact: RealFleetPass;
  /**
   * Each device's next poll, its last check-in set back by POLL_INTERVAL_MINUTES: the real fleet's steady state. The
   * round whose ratio to its own bare pass is the median of `steadyRounds`.
   */
  steady: RealFleetPass;
  /** Every steady round, in order (each set back again first, each with its bare pass just before). */
  steadyRounds: RealFleetPass[];
}

export interface PollResult {
  devices: number;
  tokens: number;
  sizes: PollSizes;
  /** Half of Flotilla's most requests/s, the offered rate of the `half` runs. */
  halfRate: number;
  baseline: { fixed: LoadFigures; max: LoadFigures; half: LoadFigures };
  flotilla: { fixed: LoadFigures; max: LoadFigures; half: LoadFigures };
  /** The p99 of every half-load window, in order (`half` is the window with the median p99). */
  halfP99Ms: { baseline: number[]; flotilla: number[] };
  /** Seconds from the sampled devices' check-ins (warm-up) to the end of Flotilla's last steady-state run. */
  steadySeconds: number;
  realFleet: RealFleetResult;
}

/** The run whose p99 is the median of `runs` (the lower middle one of an even count). */
function medianByP99(runs: LoadFigures[]): LoadFigures {
  return [...runs].sort((a, b) => a.p99Ms - b.p99Ms)[Math.floor((runs.length - 1) / 2)];
}

/**
 * Devices whose check-in time is `since` or later, once `expected` are there or 10 s have passed. Only the
 * real-fleet devices polled since then.
 */
export async function checkInsSince(fleet: Fleet, since: string, expected: number): Promise<number> {
  const store = await fleet.open();
  try {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const row = await store.db
        .selectFrom('devices')
        .select((eb) => eb.fn.countAll<number | string>().as('n'))
        .where('tenant_id', '=', fleet.tenantId)
        .where('check_in_ts', '>=', since)
        .executeTakeFirstOrThrow();
      const count = Number(row.n);
      if (count >= expected || Date.now() > deadline) return count;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  } finally {
    await store.close();
  }
}

/**
 * Sets the check-in of the devices that checked in since `since` back to `minutes` ago, on the benchmark's own
 * connection while the server idles: as if that long had passed since their last poll. The server decides whether
 * a check-in is due against the store, so their next poll writes one again.
 */
export async function setCheckInsBack(fleet: Fleet, since: string, minutes: number): Promise<number> {
  const store = await fleet.open();
  try {
    const result = await store.db
      .updateTable('devices')
      .set({ check_in_ts: new Date(Date.now() - minutes * 60_000).toISOString() })
      .where('tenant_id', '=', fleet.tenantId)
      .where('check_in_ts', '>=', since)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  } finally {
    await store.close();
  }
}

export async function benchPoll(server: Server, fleet: Fleet, sizes: PollSizes): Promise<PollResult> {
  const body = JSON.stringify({
    device_provides: { device_type: BENCH_DEVICE_TYPE, artifact_name: BENCH_INSTALLED },
    update_control_map: false,
  });
  const variants = (tokens: string[]): RequestVariant[] =>
    tokens.map((token) => ({ path: POLL_PATH, authorization: `Bearer ${token}` }));
  const sample = variants(fleet.tokens);
  const fast = (url: string, seconds: number) =>
    load({ url, method: 'POST', body, requests: sample, connections: sizes.connections, durationSeconds: seconds });
  const steady = (url: string, rate: number) =>
    paced({
      url,
      method: 'POST',
      body,
      requests: sample,
      rate,
      durationSeconds: sizes.durationSeconds,
      maxConnections: PACED_CONNECTIONS,
    });
  const admin = await login(server.url, fleet.adminEmail, fleet.adminPassword);
  const constant = await startConstantServer();
  try {
    progress(`poll (${fleet.dialect}): warm-up ${sizes.warmupSeconds} s`);
    await fast(constant.url, sizes.warmupSeconds);
    // Warm-up: JIT, connection pools, and each sampled device's check-in, due once a minute.
    const checkedIn = process.hrtime.bigint();
    await fast(server.url, sizes.warmupSeconds);
    progress(`poll (${fleet.dialect}): ${sizes.offeredRate} requests/s for ${sizes.durationSeconds} s, each side`);
    const flotillaFixed = await steady(server.url, sizes.offeredRate);
    const baselineFixed = await steady(constant.url, sizes.offeredRate);
    progress(`poll (${fleet.dialect}): full speed for ${sizes.durationSeconds} s, each side`);
    const flotillaMax = await fast(server.url, sizes.durationSeconds);
    const baselineMax = await fast(constant.url, sizes.durationSeconds);
    const halfRate = Math.max(1, Math.round(flotillaMax.requestsPerSecond / 2));
    progress(`poll (${fleet.dialect}): half of Flotilla's most, ${halfRate} requests/s for ${sizes.durationSeconds} s`);
    // Several windows, taking turns: one 10 s window's p99 is a hundred requests, and one stall of the shared
    // machine (seen here: 2 ms to 58 ms in back-to-back windows of the same server) decides it alone.
    const flotillaHalves: LoadFigures[] = [];
    const baselineHalves: LoadFigures[] = [];
    let steadySeconds = 0;
    for (let i = 0; i < sizes.halfWindows; i++) {
      flotillaHalves.push(await steady(server.url, halfRate));
      steadySeconds = secondsSince(checkedIn);
      baselineHalves.push(await steady(constant.url, halfRate));
    }
    const flotillaHalf = medianByP99(flotillaHalves);
    const baselineHalf = medianByP99(baselineHalves);

    // The real fleet: every request another device whose last check-in is older than a minute, so each pays its
    // check-in. First each device's first poll to this server process, then, with its check-in set back, its next.
    const needed = Math.ceil(baselineMax.requestsPerSecond * sizes.realFleetSeconds);
    const count = Math.max(sizes.connections, Math.min(needed, sizes.realFleetMaxDevices, fleet.untokened()));
    progress(`poll (${fleet.dialect}): real fleet, minting tokens for ${count} devices (${needed} wanted)`);
    const minting = process.hrtime.bigint();
    const minted = await fleet.mintTokens(count);
    const mintSeconds = secondsSince(minting);
    const fleetRequests = variants(minted.tokens);
    const once = (url: string) =>
      load({
        url,
        method: 'POST',
        body,
        requests: fleetRequests,
        connections: sizes.connections,
        durationSeconds: sizes.durationSeconds,
        once: true,
      });
    let since = '';
    const pass = async (): Promise<RealFleetPass> => {
      // The baseline: the bare server given the very same pass, so that the client's work (a new 700-byte token in
      // every request, connections opened, the run's ramp) weighs the same on both sides. It does no bookkeeping.
      const bare = await once(constant.url);
      since = new Date().toISOString();
      const polls = await once(server.url);
      // A server may hold check-ins in memory and write them in batches every few seconds: the bookkeeping of the
      // last polls is then still to do when the last answer comes. Reading one of the devices through the
      // management API makes it write them all first, so the clock stops when every check-in is written (and not a
      // moment of waiting for the next batch later).
      const flushing = process.hrtime.bigint();
      await call(server.url, admin, 'GET', `/api/management/v2/devauth/devices/${minted.deviceIds[count - 1]}`, 200);
      const flushSeconds = secondsSince(flushing);
      return {
        bare,
        polls,
        flushSeconds,
        requestsPerSecond: count / (polls.seconds + flushSeconds),
        checkIns: await checkInsSince(fleet, since, count),
      };
    };
    progress(`poll (${fleet.dialect}): real fleet, ${count} devices' first polls, once each at full speed`);
    const firstContact = await pass();
    const steadyRounds: RealFleetPass[] = [];
    for (let round = 0; round < sizes.realFleetRounds; round++) {
      const setBack = await setCheckInsBack(fleet, since, POLL_INTERVAL_MINUTES);
      if (setBack !== count) throw new Error(`real fleet: ${setBack} check-ins set back, ${count} expected`);
      progress(
        `poll (${fleet.dialect}): real fleet, the same devices ${POLL_INTERVAL_MINUTES} minutes later (round ${round + 1} of ${sizes.realFleetRounds})`,
      );
      steadyRounds.push(await pass());
    }
    const ratio = (x: RealFleetPass) => x.requestsPerSecond / x.bare.requestsPerSecond;
    const steadyPass = [...steadyRounds].sort((a, b) => ratio(a) - ratio(b))[Math.floor((steadyRounds.length - 1) / 2)];
    return {
      devices: fleet.devices,
      tokens: fleet.tokens.length,
      sizes,
      halfRate,
      baseline: { fixed: baselineFixed, max: baselineMax, half: baselineHalf },
      flotilla: { fixed: flotillaFixed, max: flotillaMax, half: flotillaHalf },
      halfP99Ms: { baseline: baselineHalves.map((h) => h.p99Ms), flotilla: flotillaHalves.map((h) => h.p99Ms) },
      steadySeconds,
      realFleet: { devices: count, needed, mintSeconds, firstContact, steady: steadyPass, steadyRounds },
    };
  } finally {
    await constant.stop();
  }
}
