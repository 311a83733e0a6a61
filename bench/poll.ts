// Device poll: `POST /api/devices/v2/deployments/device/deployments/next` with device JWTs while the store holds the
// whole fleet, against a bare Node `http` server answering the same empty 204 on the same machine. Four loads:
// - a fixed offered rate, paced evenly (latency when the server keeps up);
// - as fast as autocannon's connections go (the most requests per second);
// - a paced rate of half Flotilla's own most requests/s (the latency a fleet sees with headroom to spare);
// - the real fleet: as fast as the connections go, but every request from another device that last polled half an
//   hour ago, so each one pays the check-in write (once a minute per device) that the sampled devices, polling
//   several times a second, pay only once a minute.
// The sampled devices check in during the warm-up, and Flotilla's three steady-state runs all end within the
// minute after, so none of their check-ins falls due inside those runs.
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
  /**
   * The real-fleet poll gets as many devices as this many seconds at the most requests/s need (it runs longer when
   * the check-in writes slow it down), and at most realFleetMaxDevices (signing a token costs ~0.4 ms on 2 cores).
   */
  realFleetSeconds: number;
  realFleetMaxDevices: number;
}

export interface RealFleetResult {
  /** Devices that polled once each (one request each). */
  devices: number;
  /** How many a run of realFleetSeconds at the most requests/s measured just before needs. */
  needed: number;
  /** Seconds spent minting their tokens (not part of any figure). */
  mintSeconds: number;
  flotilla: LoadFigures;
  /** Devices whose check-in the store holds from the run, read afterwards: each request's write, shown to be done. */
  checkIns: number;
}

export interface PollResult {
  devices: number;
  tokens: number;
  sizes: PollSizes;
  /** Half of Flotilla's most requests/s, the offered rate of the `half` runs. */
  halfRate: number;
  baseline: { fixed: LoadFigures; max: LoadFigures; half: LoadFigures };
  flotilla: { fixed: LoadFigures; max: LoadFigures; half: LoadFigures };
  /** Seconds from the sampled devices' check-ins (warm-up) to the end of Flotilla's last steady-state run. */
  steadySeconds: number;
  realFleet: RealFleetResult;
}

/**
 * Devices whose check-in time is `since` or later, once `expected` are there or 10 s have passed (a server may
 * write check-ins behind, in batches). Only the real-fleet devices polled since then.
 */
async function checkInsSince(fleet: Fleet, since: string, expected: number): Promise<number> {
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
    const flotillaHalf = await steady(server.url, halfRate);
    const steadySeconds = secondsSince(checkedIn);
    const baselineHalf = await steady(constant.url, halfRate);

    // Every request another device, none of which polled within the minute: each pays its check-in write.
    const needed = Math.ceil(flotillaMax.requestsPerSecond * sizes.realFleetSeconds);
    const count = Math.max(sizes.connections, Math.min(needed, sizes.realFleetMaxDevices, fleet.untokened()));
    progress(`poll (${fleet.dialect}): real fleet, minting tokens for ${count} devices (${needed} wanted)`);
    const minting = process.hrtime.bigint();
    const realTokens = await fleet.mintTokens(count);
    const mintSeconds = secondsSince(minting);
    progress(`poll (${fleet.dialect}): real fleet, ${count} devices polling once each at full speed`);
    const since = new Date().toISOString();
    const real = await load({
      url: server.url,
      method: 'POST',
      body,
      requests: variants(realTokens),
      connections: sizes.connections,
      durationSeconds: sizes.durationSeconds,
      once: true,
    });
    const checkIns = await checkInsSince(fleet, since, count);
    return {
      devices: fleet.devices,
      tokens: fleet.tokens.length,
      sizes,
      halfRate,
      baseline: { fixed: baselineFixed, max: baselineMax, half: baselineHalf },
      flotilla: { fixed: flotillaFixed, max: flotillaMax, half: flotillaHalf },
      steadySeconds,
      realFleet: { devices: count, needed, mintSeconds, flotilla: real, checkIns },
    };
  } finally {
    await constant.stop();
  }
}
