// The fleet simulator: N devices of one protocol or a mix (Mender, hawkBit DDI, Kanto) in one process, enrolled
// through the server's own admission paths (Mender auth requests accepted by an operator, DDI targets and Kanto
// things registered through their management routes), polling at an interval with bounded concurrency, some told
// to fail. With `deploy`, one deployment of that artifact to all devices runs to its end. The summary counts
// requests, errors, latency percentiles and the devices updated. `flotilla simulate` is its command line.
import { randomBytes } from 'node:crypto';
import { HttpCounter, type UpdateOutcome } from './common.js';
import { DdiAgent } from './ddi.js';
import { KantoDeviceSimulator } from './kanto/device.js';
import { MenderAgent } from './mender.js';

export type SimulatedProtocol = 'mender' | 'ddi' | 'kanto';

export interface SimulationOptions {
  server: string;
  devices: number;
  protocol: SimulatedProtocol | 'mixed';
  /** An operator who may accept devices and create the deployment. */
  email: string;
  password: string;
  /** Mender tenant token (empty: the default tenant). */
  tenantToken?: string;
  /** hawkBit tenant segment (default `DEFAULT`). */
  ddiTenant?: string;
  /** The MQTT broker Kanto devices connect to (the server's embedded broker). */
  mqttUrl?: string;
  pollIntervalMs?: number;
  /** Share of devices told to fail their installation (0..1). */
  failureRatio?: number;
  /** Requests in flight at once. */
  concurrency?: number;
  /** Artifact name to deploy to all devices (it must exist for every simulated device type). */
  deploy?: string;
  /** Give up after this long (ms). */
  timeoutMs?: number;
  onProgress?: (progress: SimulationProgress) => void;
  deviceTypes?: Partial<Record<SimulatedProtocol, string>>;
}

export interface SimulationProgress {
  enrolled: number;
  devices: number;
  statistics?: Record<string, number>;
}

export interface SimulationSummary {
  devices: Record<SimulatedProtocol, number>;
  requests: number;
  errors: number;
  latencyMs: { p50: number; p90: number; p99: number };
  updated: number;
  failed: number;
  deploymentId?: string;
  deploymentStatus?: string;
  seconds: number;
}

export const DEFAULT_DEVICE_TYPES: Record<SimulatedProtocol, string> = {
  mender: 'sim-mender',
  ddi: 'sim-ddi',
  kanto: 'sim-kanto',
};

const DEVAUTH = '/api/management/v2/devauth/devices';
const DEPLOYMENTS = '/api/management/v1/deployments/deployments';

/** Runs `work` over `items` with at most `limit` at once. */
async function eachLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]);
  });
  await Promise.all(runners);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runSimulation(options: SimulationOptions): Promise<SimulationSummary> {
  const started = performance.now();
  const http = new HttpCounter();
  const concurrency = options.concurrency ?? 50;
  const pollInterval = options.pollIntervalMs ?? 1000;
  const deadline = Date.now() + (options.timeoutMs ?? 10 * 60_000);
  const types = { ...DEFAULT_DEVICE_TYPES, ...options.deviceTypes };
  const run = randomBytes(3).toString('hex');

  const login = await http.request('POST', `${options.server}/api/management/v1/useradm/auth/login`, {
    headers: { authorization: `Basic ${Buffer.from(`${options.email}:${options.password}`).toString('base64')}` },
  });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${login.text}`);
  const admin = { authorization: `Bearer ${login.text}` };
  const tenantId = JSON.parse(Buffer.from(login.text.split('.')[1], 'base64url').toString())['mender.tenant'];

  const protocols: SimulatedProtocol[] = options.protocol === 'mixed' ? ['mender', 'ddi', 'kanto'] : [options.protocol];
  const failing = (index: number) => index < Math.round((options.failureRatio ?? 0) * options.devices);
  const menders: MenderAgent[] = [];
  const ddis: DdiAgent[] = [];
  const kantos: KantoDeviceSimulator[] = [];
  const kantoSpecs: { thingId: string; fail: boolean }[] = [];
  for (let i = 0; i < options.devices; i++) {
    const protocol = protocols[i % protocols.length];
    const behaviour = { fail: failing(i) };
    const common = { server: options.server, deviceType: types[protocol], artifactName: 'sim-factory' };
    if (protocol === 'mender') {
      const mac = `02:5e:${run.slice(0, 2)}:${run.slice(2, 4)}:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;
      menders.push(
        new MenderAgent({ ...common, tenantToken: options.tenantToken ?? '', mac: `${mac}-${run}` }, http, behaviour),
      );
    } else if (protocol === 'ddi') {
      ddis.push(
        new DdiAgent(
          {
            ...common,
            tenant: options.ddiTenant ?? 'DEFAULT',
            controllerId: `sim-${run}-${i}`,
            targetToken: randomBytes(16).toString('hex'),
          },
          http,
          behaviour,
        ),
      );
    } else {
      kantoSpecs.push({ thingId: `flotilla.sim:${run}-${i}`, fail: behaviour.fail });
    }
  }

  // Enrollment, each protocol through its own admission path.
  let enrolled = 0;
  const progress = (statistics?: Record<string, number>) =>
    options.onProgress?.({ enrolled, devices: options.devices, statistics });
  await eachLimited(menders, concurrency, async (agent) => {
    await agent.authenticate();
  });
  const pending = new Map<string, string>();
  for (let page = 1; pending.size < menders.length; page++) {
    const res = await http.json('GET', `${options.server}${DEVAUTH}?status=pending&per_page=500&page=${page}`, admin);
    const list = JSON.parse(res.text) as { id: string; identity_data: { mac?: string }; auth_sets: { id: string }[] }[];
    for (const d of list) if (d.identity_data.mac?.endsWith(run)) pending.set(d.id, d.auth_sets[0].id);
    if (list.length < 500) break;
  }
  await eachLimited([...pending], concurrency, async ([deviceId, authSetId]) => {
    await http.json('PUT', `${options.server}${DEVAUTH}/${deviceId}/auth/${authSetId}/status`, admin, {
      status: 'accepted',
    });
  });
  await eachLimited(menders, concurrency, async (agent) => {
    if (await agent.authenticate()) {
      await agent.sendInventory();
      enrolled++;
    }
  });
  await eachLimited(ddis, concurrency, async (agent) => {
    const res = await http.json('POST', `${options.server}/api/ddi/v1/targets`, admin, {
      controller_id: agent.options.controllerId,
      token: agent.options.targetToken,
      device_type: agent.options.deviceType,
    });
    if (res.status === 201) enrolled++;
  });
  if (kantoSpecs.length && !options.mqttUrl) throw new Error('Kanto devices need the broker address (mqttUrl)');
  await eachLimited(kantoSpecs, concurrency, async (spec) => {
    const res = await http.json('POST', `${options.server}/api/kanto/v1/devices`, admin, {
      thing_id: spec.thingId,
      device_type: types.kanto,
    });
    if (res.status !== 201) return;
    const creds = JSON.parse(res.text) as { username: string; password: string };
    const device = new KantoDeviceSimulator({
      url: options.mqttUrl as string,
      username: creds.username,
      password: creds.password,
      tenantId,
      thingId: spec.thingId,
      topics: 'hono',
      ...(spec.fail
        ? { failComponent: { id: 'containers:app', phase: 'update' as const, message: 'simulated failure' } }
        : {}),
    });
    await device.connect();
    kantos.push(device);
    enrolled++;
  });
  progress();

  // The deployment, and polling until it has finished.
  let deploymentId: string | undefined;
  let statistics: Record<string, number> | undefined;
  let status: string | undefined;
  if (options.deploy) {
    const res = await http.json('POST', `${options.server}${DEPLOYMENTS}`, admin, {
      name: `simulation ${run}`,
      artifact_name: options.deploy,
      all_devices: true,
    });
    if (res.status !== 201) throw new Error(`deployment failed: ${res.status} ${res.text}`);
    const list = await http.json(
      'GET',
      `${options.server}${DEPLOYMENTS}?search=${encodeURIComponent(`simulation ${run}`)}`,
      admin,
    );
    deploymentId = (JSON.parse(list.text) as { id: string }[])[0]?.id;
  }
  const done = new Set<object>();
  const pollers = [...menders, ...ddis];
  try {
    while (Date.now() < deadline) {
      await eachLimited(
        pollers.filter((p) => !done.has(p)),
        concurrency,
        async (agent) => {
          const outcome: UpdateOutcome | undefined = await agent.poll();
          if (outcome === 'success' || outcome === 'failure') done.add(agent);
        },
      );
      if (deploymentId) {
        const res = await http.json('GET', `${options.server}${DEPLOYMENTS}/${deploymentId}`, admin);
        status = (JSON.parse(res.text) as { status: string }).status;
        const stats = await http.json('GET', `${options.server}${DEPLOYMENTS}/${deploymentId}/statistics`, admin);
        statistics = JSON.parse(stats.text) as Record<string, number>;
        progress(statistics);
        if (status === 'finished') break;
      } else if (done.size === pollers.length) break;
      await sleep(pollInterval);
    }
  } finally {
    await Promise.all(kantos.map((k) => k.close()));
  }
  const count = (p: SimulatedProtocol) =>
    p === 'mender' ? menders.length : p === 'ddi' ? ddis.length : kantoSpecs.length;
  return {
    devices: { mender: count('mender'), ddi: count('ddi'), kanto: count('kanto') },
    requests: http.requests,
    errors: http.errors,
    latencyMs: { p50: http.percentile(50), p90: http.percentile(90), p99: http.percentile(99) },
    updated: statistics?.success ?? [...done].length,
    failed: statistics?.failure ?? 0,
    deploymentId,
    deploymentStatus: status,
    seconds: (performance.now() - started) / 1000,
  };
}
