// hawkBit DDI poll: `GET /{tenant}/controller/v1/{controllerId}` with `Authorization: TargetToken ...` from DDI
// targets created through the operator API, in turn (every request another target), while the store holds the
// whole Mender fleet as well. Each target sent its configData once and nothing is deployed to it, so each answer
// is `200` with `config.polling` and no links: a DDI fleet's steady state. The baseline is a bare Node `http` server
// answering every request with `200` and the very same JSON body, byte for byte.
import { randomBytes } from 'node:crypto';
import { call, login } from './api.js';
import { BENCH_DEVICE_TYPE, type Fleet } from './fleet.js';
import { type LoadFigures, load, type RequestVariant } from './load.js';
import { progress, type Server, secondsSince, startJsonServer } from './support.js';

/** The default tenant's name in hawkBit paths. */
export const DDI_TENANT = 'DEFAULT';
const TARGETS = '/api/ddi/v1/targets';

export interface DdiSizes {
  /** DDI targets created (each polls in turn). */
  targets: number;
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
}

export interface DdiResult {
  targets: number;
  /** Devices in the store besides the targets. */
  fleetDevices: number;
  /** Seconds to create the targets and send their configData (not part of any figure). */
  setupSeconds: number;
  /** The poll's answer, which the baseline sends too. */
  answer: string;
  sizes: DdiSizes;
  baseline: LoadFigures;
  flotilla: LoadFigures;
}

/** Runs `work` over `items`, at most `limit` at once. */
async function eachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}

export async function benchDdi(server: Server, fleet: Fleet, sizes: DdiSizes): Promise<DdiResult> {
  const admin = await login(server.url, fleet.adminEmail, fleet.adminPassword);
  const run = randomBytes(3).toString('hex');
  const targets = Array.from({ length: sizes.targets }, (_, i) => ({
    controllerId: `bench-ddi-${run}-${i}`,
    token: randomBytes(16).toString('hex'),
  }));
  const base = (controllerId: string) => `/${DDI_TENANT}/controller/v1/${controllerId}`;

  progress(`ddi poll (${fleet.dialect}): creating ${sizes.targets} targets through the operator API`);
  const setup = process.hrtime.bigint();
  await eachLimited(targets, 10, async (target) => {
    await call(server.url, admin, 'POST', TARGETS, 201, {
      controller_id: target.controllerId,
      token: target.token,
      device_type: BENCH_DEVICE_TYPE,
    });
    // What a DDI client does once: send its attributes, after which the poll stops asking for them.
    const res = await fetch(`${server.url}${base(target.controllerId)}/configData`, {
      method: 'PUT',
      headers: { authorization: `TargetToken ${target.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ mode: 'merge', data: { hwRevision: 'bench' } }),
    });
    if (res.status !== 200) throw new Error(`configData: ${res.status} ${await res.text()}`);
  });
  const setupSeconds = secondsSince(setup);

  const requests: RequestVariant[] = targets.map((target) => ({
    path: base(target.controllerId),
    authorization: `TargetToken ${target.token}`,
  }));
  const probe = await fetch(`${server.url}${requests[0].path}`, {
    headers: { authorization: requests[0].authorization as string },
  });
  const answer = await probe.text();
  if (probe.status !== 200) throw new Error(`ddi poll: ${probe.status} ${answer}`);
  const parsed = JSON.parse(answer) as { config?: { polling?: { sleep?: string } }; _links?: object };
  if (!parsed.config?.polling?.sleep || Object.keys(parsed._links ?? {}).length > 0)
    throw new Error(`ddi poll: not the steady state (config.polling only): ${answer}`);

  const fast = (url: string, seconds: number) =>
    load({ url, method: 'GET', requests, connections: sizes.connections, durationSeconds: seconds });
  const bare = await startJsonServer(answer);
  try {
    progress(
      `ddi poll (${fleet.dialect}): warm-up ${sizes.warmupSeconds} s, then full speed for ${sizes.durationSeconds} s, each side`,
    );
    await fast(bare.url, sizes.warmupSeconds);
    await fast(server.url, sizes.warmupSeconds);
    const flotilla = await fast(server.url, sizes.durationSeconds);
    const baseline = await fast(bare.url, sizes.durationSeconds);
    return {
      targets: sizes.targets,
      fleetDevices: fleet.devices,
      setupSeconds,
      answer,
      sizes,
      baseline,
      flotilla,
    };
  } finally {
    await bare.stop();
  }
}
