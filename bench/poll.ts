// Device poll: `POST /api/devices/v2/deployments/device/deployments/next` with device JWTs (spread over a sample
// of the fleet) while the store holds the whole fleet, against a bare Node `http` server answering the same empty
// 204 on the same machine. Two loads: a fixed offered rate (latency when the server keeps up) and as fast as
// autocannon's connections go (the most requests per second).
import type { Fleet } from './fleet.js';
import { BENCH_DEVICE_TYPE, BENCH_INSTALLED } from './fleet.js';
import { type LoadFigures, type LoadOptions, load } from './load.js';
import { progress, type Server, startConstantServer } from './support.js';

export const POLL_PATH = '/api/devices/v2/deployments/device/deployments/next';

export interface PollSizes {
  durationSeconds: number;
  warmupSeconds: number;
  /** The fixed offered load, requests per second over all connections. */
  offeredRate: number;
  connections: number;
}

export interface PollResult {
  devices: number;
  tokens: number;
  sizes: PollSizes;
  baseline: { fixed: LoadFigures; max: LoadFigures };
  flotilla: { fixed: LoadFigures; max: LoadFigures };
}

export async function benchPoll(server: Server, fleet: Fleet, sizes: PollSizes): Promise<PollResult> {
  const body = JSON.stringify({
    device_provides: { device_type: BENCH_DEVICE_TYPE, artifact_name: BENCH_INSTALLED },
    update_control_map: false,
  });
  const poll = (url: string, seconds: number, rate?: number): Promise<LoadFigures> => {
    const options: LoadOptions = {
      url,
      method: 'POST',
      path: POLL_PATH,
      body,
      tokens: fleet.tokens,
      connections: sizes.connections,
      durationSeconds: seconds,
      overallRate: rate,
    };
    return load(options);
  };
  const constant = await startConstantServer();
  try {
    progress(`poll (${fleet.dialect}): warm-up ${sizes.warmupSeconds} s`);
    // Warm-up: JIT, connection pools, and each sampled device's first check-in write (once a minute per device).
    await poll(server.url, sizes.warmupSeconds);
    await poll(constant.url, sizes.warmupSeconds);
    progress(`poll (${fleet.dialect}): ${sizes.offeredRate} requests/s for ${sizes.durationSeconds} s, each side`);
    const baselineFixed = await poll(constant.url, sizes.durationSeconds, sizes.offeredRate);
    const flotillaFixed = await poll(server.url, sizes.durationSeconds, sizes.offeredRate);
    progress(`poll (${fleet.dialect}): full speed for ${sizes.durationSeconds} s, each side`);
    const baselineMax = await poll(constant.url, sizes.durationSeconds);
    const flotillaMax = await poll(server.url, sizes.durationSeconds);
    return {
      devices: fleet.devices,
      tokens: fleet.tokens.length,
      sizes,
      baseline: { fixed: baselineFixed, max: baselineMax },
      flotilla: { fixed: flotillaFixed, max: flotillaMax },
    };
  } finally {
    await constant.stop();
  }
}
