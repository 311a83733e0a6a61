// N devices through a full deployment: time from creating the deployment to every device reporting success.
//
// The fleet simulator of src/agent (`runSimulation`) was not there when this was written, so the devices are the
// benchmark's own lean Mender devices: seeded accepted with device JWTs (as in the poll benchmark), each one
// going through what mender-client does for an update: v2 next (gets the assignment and the signed link), status
// downloading, the artifact download, installing, rebooting, success. `concurrency` devices at a time, each acting
// as soon as its previous answer arrives (no poll intervals: this measures the server, not the wait).
//
// Baseline: the same client making the same round trips (same methods, bodies, count and concurrency) against a
// bare Node `http` server answering an empty 204: what the traffic alone costs on this machine.
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { call, login, smallArtifact, uploadArtifact } from './api.js';
import { BENCH_RELEASE } from './deploy.js';
import { BENCH_DEVICE_TYPE, BENCH_INSTALLED, type Dialect, fleetEnv, seedFleet } from './fleet.js';
import { POLL_PATH } from './poll.js';
import { progress, type Server, secondsSince, startConstantServer, startServer } from './support.js';

export interface SimulationSizes {
  devices: number;
  /** Devices in flight at once (and HTTP connections). */
  concurrency: number;
}

export interface SimulationResult {
  dialect: Dialect;
  devices: number;
  concurrency: number;
  requests: number;
  flotillaSeconds: number;
  baselineSeconds: number;
  seedSeconds: number;
  /** What was measured, for BENCHMARKS.md. */
  description: string[];
}

const STATUS = (deploymentId: string) => `/api/devices/v1/deployments/device/deployments/${deploymentId}/status`;
const STEPS_BEFORE_DOWNLOAD = ['downloading'];
const STEPS_AFTER_DOWNLOAD = ['installing', 'rebooting', 'success'];

interface Answer {
  status: number;
  body: Buffer;
}

function send(agent: Agent, method: string, url: string, token: string, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Takes every device through the update, `concurrency` at a time. `bare`: the baseline server, which answers
 * 204 to everything, so the assignment and the link are made up; the requests are the same.
 */
export async function drive(
  base: string,
  tokens: string[],
  concurrency: number,
  bare: boolean,
): Promise<{ seconds: number; requests: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const provides = JSON.stringify({
    device_provides: { device_type: BENCH_DEVICE_TYPE, artifact_name: BENCH_INSTALLED },
    update_control_map: false,
  });
  let requests = 0;
  const expect = (answer: Answer, status: number, what: string) => {
    requests++;
    if (answer.status !== (bare ? 204 : status)) {
      throw new Error(`${what}: ${answer.status} ${answer.body.toString().slice(0, 200)}`);
    }
  };
  const device = async (token: string) => {
    const next = await send(agent, 'POST', `${base}${POLL_PATH}`, token, provides);
    expect(next, 200, 'next');
    const assignment = bare
      ? { id: 'bare', artifact: { source: { uri: `${base}/download` } } }
      : (JSON.parse(next.body.toString()) as { id: string; artifact: { source: { uri: string } } });
    for (const status of STEPS_BEFORE_DOWNLOAD) {
      expect(
        await send(agent, 'PUT', `${base}${STATUS(assignment.id)}`, token, JSON.stringify({ status })),
        204,
        status,
      );
    }
    expect(await send(agent, 'GET', assignment.artifact.source.uri, token), 200, 'download');
    for (const status of STEPS_AFTER_DOWNLOAD) {
      expect(
        await send(agent, 'PUT', `${base}${STATUS(assignment.id)}`, token, JSON.stringify({ status })),
        204,
        status,
      );
    }
  };
  const start = process.hrtime.bigint();
  let nextDevice = 0;
  let failed = false;
  const worker = async () => {
    try {
      while (!failed && nextDevice < tokens.length) await device(tokens[nextDevice++]);
    } catch (error) {
      failed = true; // the others stop too: one failure fails the benchmark
      throw error;
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, tokens.length) }, worker));
  } finally {
    agent.destroy();
  }
  return { seconds: secondsSince(start), requests };
}

export async function benchSimulation(
  dialect: Dialect,
  work: string,
  sizes: SimulationSizes,
): Promise<SimulationResult> {
  progress(`simulation (${dialect}): seeding ${sizes.devices} devices with a device JWT each`);
  const dataDir = join(work, `fleet-${dialect}`);
  const fleet = await seedFleet(dialect, dataDir, { devices: sizes.devices, tokens: sizes.devices, groupEvery: 10 });
  let server: Server | undefined;
  try {
    server = await startServer(dataDir, fleetEnv(fleet));
    const token = await login(server.url, fleet.adminEmail, fleet.adminPassword);
    await uploadArtifact(server.url, token, await smallArtifact(work, BENCH_RELEASE, BENCH_DEVICE_TYPE));

    progress(`simulation (${dialect}): baseline, ${sizes.devices} devices' round trips against a bare server`);
    const constant = await startConstantServer();
    let baseline: { seconds: number; requests: number };
    try {
      baseline = await drive(constant.url, fleet.tokens, sizes.concurrency, true);
    } finally {
      await constant.stop();
    }

    progress(`simulation (${dialect}): ${sizes.devices} devices through a deployment, ${sizes.concurrency} at a time`);
    const start = process.hrtime.bigint();
    const created = await call(server.url, token, 'POST', '/api/management/v1/deployments/deployments', 201, {
      name: 'bench simulation',
      artifact_name: BENCH_RELEASE,
      all_devices: true,
    });
    const ours = await drive(server.url, fleet.tokens, sizes.concurrency, false);
    const seconds = secondsSince(start);

    const id = String(created.headers.get('location')).split('/').pop();
    const stats = (await (
      await call(server.url, token, 'GET', `/api/management/v1/deployments/deployments/${id}/statistics`, 200)
    ).json()) as Record<string, number>;
    if (stats.success !== sizes.devices) throw new Error(`simulation: not all succeeded: ${JSON.stringify(stats)}`);
    const deployment = (await (
      await call(server.url, token, 'GET', `/api/management/v1/deployments/deployments/${id}`, 200)
    ).json()) as { status: string };
    if (deployment.status !== 'finished') throw new Error(`simulation: deployment is ${deployment.status}`);
    if (ours.requests !== baseline.requests)
      throw new Error('simulation: baseline made a different number of requests');

    return {
      dialect,
      devices: sizes.devices,
      concurrency: sizes.concurrency,
      requests: ours.requests,
      flotillaSeconds: seconds,
      baselineSeconds: baseline.seconds,
      seedSeconds: fleet.seedSeconds,
      description: [
        `${sizes.devices.toLocaleString('en-US')} accepted devices with a device JWT each (seeded as in the poll benchmark, on`,
        'a fresh store per database), one deployment for all of them of a small artifact, timed from the',
        '`POST` that creates it until the last device has reported `success`; afterwards the statistics must count',
        `every device as a success and the deployment must be finished. Each device does what mender-client does for`,
        'an update, without poll intervals: v2 `next` (assignment and signed link), status `downloading`, the',
        'artifact download, `installing`, `rebooting`, `success`: ' +
          `${(ours.requests / sizes.devices).toFixed(0)} round trips, ${ours.requests.toLocaleString('en-US')} in all,`,
        `${sizes.concurrency} devices at a time over keep-alive connections. These are the benchmark's own lean`,
        'devices: the fleet simulator of src/agent (`flotilla simulate`) was not there when this benchmark was written.',
        'Baseline: the same client making the same round trips at the same concurrency against a bare Node `http`',
        'server answering an empty `204`.',
      ],
    };
  } finally {
    await server?.stop();
    await fleet.drop();
  }
}
