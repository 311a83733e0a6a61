// Device polls per second through HAProxy with 1, 2 and 3 `flotilla serve` processes on one PostgreSQL database (the
// set-up of deploy/multi-node/, with its haproxy.cfg): how far adding processes scales the steady-state poll.
// The fleet is seeded on PostgreSQL as for the poll benchmark; its sampled devices poll
// `POST .../deployments/next` in turn (nothing deployed: 204), as fast as the connections go, through HAProxy in
// front of the first 1, 2, then 3 processes (all three run throughout, so the set-up is the same for each figure).
// Baseline: the same load through the same HAProxy in front of one bare Node server answering an empty 204 — the
// ceiling of the balancer and the load generator on this machine. The 1-minute load average is taken at each step:
// on 2 cores shared by the client, HAProxy, PostgreSQL and the servers, processes beyond the cores compete for them.
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { type Haproxy, haproxyMissing, startHaproxy } from '../test/support/haproxy.js';
import { BENCH_DEVICE_TYPE, BENCH_INSTALLED, type FleetOptions, fleetEnv, seedFleet } from './fleet.js';
import { type LoadFigures, load } from './load.js';
import { POLL_PATH } from './poll.js';
import { progress, type Server, startConstantServer, startServer } from './support.js';

export interface ClusterSizes {
  fleet: FleetOptions;
  durationSeconds: number;
  warmupSeconds: number;
  connections: number;
  /** The most processes (figures for 1 … processes). */
  processes: number;
}

export interface ClusterStep {
  processes: number;
  polls: LoadFigures;
  /** HAProxy's sessions (its stats' `stot`: one per request it sent) to each process during the step. */
  served: Record<string, number>;
  /** 1-minute load average at the end of the step. */
  load: number;
}

export interface ClusterResult {
  sizes: ClusterSizes;
  devices: number;
  tokens: number;
  baseline: LoadFigures;
  steps: ClusterStep[];
}

export function clusterMissing(): string | undefined {
  return haproxyMissing();
}

export async function benchCluster(work: string, sizes: ClusterSizes): Promise<ClusterResult> {
  progress(`cluster: seeding ${sizes.fleet.devices} devices on PostgreSQL`);
  const fleet = await seedFleet('postgres', join(work, 'fleet'), sizes.fleet);
  const servers: Server[] = [];
  let haproxy: Haproxy | undefined;
  try {
    const body = JSON.stringify({
      device_provides: { device_type: BENCH_DEVICE_TYPE, artifact_name: BENCH_INSTALLED },
      update_control_map: false,
    });
    const requests = fleet.tokens.map((token) => ({ path: POLL_PATH, authorization: `Bearer ${token}` }));
    const run = async (url: string) => {
      await load({
        url,
        method: 'POST',
        body,
        requests,
        connections: sizes.connections,
        durationSeconds: sizes.warmupSeconds,
      });
      return load({
        url,
        method: 'POST',
        body,
        requests,
        connections: sizes.connections,
        durationSeconds: sizes.durationSeconds,
      });
    };
    const hostOf = (server: Server) => new URL(server.url).host;

    const bare = await startConstantServer();
    try {
      haproxy = await startHaproxy([hostOf(bare)]);
      progress(`cluster: baseline, HAProxy in front of a bare Node server, ${sizes.durationSeconds} s`);
      const baseline = await run(haproxy.url);
      await haproxy.stop();
      haproxy = undefined;

      for (let i = 0; i < sizes.processes; i++) {
        servers.push(await startServer(join(work, `node${i + 1}`), { ...fleetEnv(fleet), FLOTILLA_MQTT_PORT: 'off' }));
      }
      const steps: ClusterStep[] = [];
      for (let n = 1; n <= sizes.processes; n++) {
        haproxy = await startHaproxy(servers.slice(0, n).map(hostOf));
        progress(`cluster: ${n} process(es) behind HAProxy, ${sizes.durationSeconds} s`);
        const polls = await run(haproxy.url);
        steps.push({ processes: n, polls, served: await haproxy.served(), load: loadavg()[0] });
        await haproxy.stop();
        haproxy = undefined;
      }
      return { sizes, devices: fleet.devices, tokens: fleet.tokens.length, baseline, steps };
    } finally {
      await bare.stop();
    }
  } finally {
    await haproxy?.stop();
    for (const server of servers) await server.stop();
    await fleet.drop();
  }
}
