// Kanto: N Kanto devices take one desired-state deployment to its end over MQTT. The devices are the Kanto device
// simulator of src/agent/kanto (the one `flotilla simulate` runs; one MQTT connection each, in the benchmark
// process), registered through the operator API and connected to `flotilla serve`'s embedded broker. Timed from the
// `POST` that creates the deployment until the statistics count every device a success: Flotilla pushes `apply`
// to each device, the device answers 204 and reports IDENTIFYING, IDENTIFIED, RUNNING (after each of download,
// update and activate) and COMPLETED, then its new current state; Flotilla maps each onto the deployment.
//
// Baseline: the same devices' messages through a bare aedes broker (the broker library Flotilla embeds), in a child
// process with a responder subscribed in it, as Flotilla's adapter is: on one HTTP request the responder publishes
// the same `apply` to every device at once, then only counts what comes back. The devices do the very same work and
// send the very same messages (counted on both sides: they must match); the responder does nothing Flotilla does
// (no credentials, no topic rewriting, no store, no state machine). Timed from that request until the responder
// has taken every message.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { KantoDeviceSimulator } from '../src/agent/kanto/device.js';
import { call, login } from './api.js';
import { type Dialect, fleetEnv, seedFleet } from './fleet.js';
import { freePort, progress, type Server, secondsSince, startNode, startServer, waitQuiet } from './support.js';

export const KANTO_DEVICE_TYPE = 'bench-kanto';
const DEPLOYMENTS = '/api/management/v1/deployments/deployments';
/** The project's Kanto example (examples/apply.request.json): two containers to install. */
const DESIRED_STATE = {
  baselines: [
    {
      title: 'composite-app',
      description: 'influxdb and hello-world together',
      components: ['containers:influxdb', 'containers:hello-world'],
    },
  ],
  domains: [
    {
      id: 'containers',
      config: [],
      components: [
        {
          id: 'influxdb',
          version: '2.7.1',
          config: [
            { key: 'image', value: 'docker.io/library/influxdb:2.7.1' },
            { key: 'port', value: '8086:8086' },
          ],
        },
        {
          id: 'hello-world',
          version: 'latest',
          config: [{ key: 'image', value: 'docker.io/library/hello-world:latest' }],
        },
      ],
    },
  ],
};

/**
 * The baseline's broker and responder. Devices use the generic per-device topics (a bare broker rewrites nothing),
 * `command/<tenant>/<thing>//req/#` in and `event/<tenant>/<thing>` and `command/<tenant>/<thing>//res/#` out.
 * HTTP on PORT: POST sends `apply` to every subscribed device (answers 201 at once, as a deployment's creation
 * does); GET answers {devices, received}.
 */
const BARE_KANTO = `
import { createServer as createHttp } from 'node:http';
import { createServer as createNet } from 'node:net';
import { randomBytes } from 'node:crypto';
import { Aedes } from 'aedes';
const desiredState = JSON.parse(process.env.DESIRED_STATE);
const aedes = await Aedes.createBroker();
const devices = new Set();
let received = 0;
aedes.on('subscribe', (subscriptions) => {
  for (const s of subscriptions) {
    const m = /^command\\/([^/]+)\\/([^/]+)\\/\\/req\\/#$/.exec(s.topic);
    if (m) devices.add(m[1] + '/' + m[2]);
  }
});
const count = (_packet, done) => { received++; done(); };
await new Promise((resolve) => aedes.subscribe('event/#', count, resolve));
await new Promise((resolve) => aedes.subscribe('command/+/+//res/#', count, resolve));
createNet(aedes.handle).listen(Number(process.env.MQTT_PORT), '127.0.0.1');
createHttp((req, res) => {
  req.resume();
  req.on('end', () => {
    if (req.method !== 'POST') return res.end(JSON.stringify({ devices: devices.size, received }));
    received = 0;
    for (const device of devices) {
      const [tenant, thing] = device.split('/');
      const colon = thing.indexOf(':');
      const envelope = {
        topic: thing.slice(0, colon) + '/' + thing.slice(colon + 1) + '/things/live/messages/apply',
        headers: { 'content-type': 'application/json', 'correlation-id': randomBytes(8).toString('hex'), 'response-required': true },
        path: '/features/UpdateManager/inbox/messages/apply',
        value: { activityId: randomBytes(16).toString('hex'), timestamp: Date.now(), desiredState },
      };
      const topic = 'command/' + tenant + '/' + thing + '//req/' + randomBytes(8).toString('hex') + '/apply';
      aedes.publish({ cmd: 'publish', topic, payload: Buffer.from(JSON.stringify(envelope)), qos: 1, retain: false, dup: false }, () => {});
    }
    res.statusCode = 201;
    res.end();
  });
}).listen(Number(process.env.PORT), '127.0.0.1');`;

export interface KantoSizes {
  devices: number;
  /** Registrations and connections at once during the set-up (each checks an scrypt password on the server). */
  concurrency: number;
}

export interface KantoResult {
  dialect: Dialect;
  devices: number;
  /** MQTT messages of the timed part, both ways (the same on both sides). */
  messages: number;
  /** Of which to the devices. */
  commands: number;
  flotillaSeconds: number;
  baselineSeconds: number;
  /** Registering and connecting the devices on Flotilla (not part of any figure). */
  setupSeconds: number;
  /** Devices that missed the refresh Flotilla sent as they connected, and got it only when it was sent again. */
  missedRefresh: number;
}

/** The simulated devices, with what they sent and received since `reset`, and their end. */
class Devices {
  published = 0;
  commands = 0;
  private finished = 0;
  private onFinished: ((error?: Error) => void) | undefined;

  constructor(readonly list: KantoDeviceSimulator[]) {
    for (const device of list) {
      // Count every message the device sends: its events (feature, current state, feedback) and its answers.
      const publishEvent = device.publishEvent.bind(device);
      device.publishEvent = (message) => {
        this.published++;
        return publishEvent(message);
      };
      const publishResponse = device.publishResponse.bind(device);
      device.publishResponse = (requestId, status, message) => {
        this.published++;
        return publishResponse(requestId, status, message);
      };
      device.on('command', (operation: string) => {
        if (operation === 'apply') this.commands++;
      });
      device.on('finished', (_activity: string, status: string) => {
        if (status !== 'COMPLETED') this.onFinished?.(new Error(`a device ended its desired state ${status}`));
        else {
          this.finished++;
          this.onFinished?.();
        }
      });
    }
  }

  reset(): void {
    this.published = 0;
    this.commands = 0;
    this.finished = 0;
  }

  /**
   * Resolves when every device has completed a desired state since `reset`; rejects when a device ends otherwise
   * or when no device has finished for `stallSeconds` (a device's work failed on the server, say).
   */
  allFinished(stallSeconds: number): Promise<void> {
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const watch = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          this.onFinished = undefined;
          reject(
            new Error(`${this.finished} of ${this.list.length} devices finished; none more for ${stallSeconds} s`),
          );
        }, stallSeconds * 1000);
      };
      watch();
      let seen = this.finished;
      this.onFinished = (error) => {
        if (error) {
          clearTimeout(timer);
          reject(error);
        } else if (this.finished === this.list.length) {
          clearTimeout(timer);
          resolve();
        } else if (this.finished > seen) {
          seen = this.finished;
          watch();
        }
      };
      if (this.finished === this.list.length) this.onFinished();
    });
  }

  /** Connects every device, `concurrency` at a time; `connecting` hears of each just before it connects. */
  async connect(concurrency: number, connecting?: (device: KantoDeviceSimulator) => void): Promise<void> {
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(concurrency, this.list.length) }, async () => {
        while (next < this.list.length) {
          const device = this.list[next++];
          connecting?.(device);
          await device.connect();
        }
      }),
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.list.map((device) => device.close()));
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutSeconds: number): Promise<T> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const thingIds = (count: number) => {
  const run = randomBytes(3).toString('hex');
  return Array.from({ length: count }, (_, i) => `flotilla.bench:kanto-${run}-${i}`);
};

async function baselineRun(sizes: KantoSizes, timeoutSeconds: number) {
  const mqttPort = await freePort();
  const bare = await startNode(
    BARE_KANTO,
    { MQTT_PORT: String(mqttPort), DESIRED_STATE: JSON.stringify(DESIRED_STATE) },
    'bare MQTT broker',
    { module: true },
  );
  const devices = new Devices(
    thingIds(sizes.devices).map(
      (thingId) =>
        new KantoDeviceSimulator({
          url: `mqtt://127.0.0.1:${mqttPort}`,
          tenantId: 'bench',
          thingId,
          topics: 'generic',
        }),
    ),
  );
  try {
    await devices.connect(sizes.concurrency);
    const state = async () => (await (await fetch(bare.url)).json()) as { devices: number; received: number };
    await until(
      'the bare broker to see every device',
      async () => ((await state()).devices === sizes.devices ? true : undefined),
      30,
    );
    await waitQuiet(bare.process.pid as number);
    devices.reset();
    const start = process.hrtime.bigint();
    const finished = devices.allFinished(timeoutSeconds);
    finished.catch(() => undefined); // awaited below; handled here in case what comes first throws
    const go = await fetch(bare.url, { method: 'POST' });
    if (go.status !== 201) throw new Error(`bare broker: ${go.status}`);
    await finished;
    await until(
      'the responder to take every message',
      async () => ((await state()).received === devices.published ? true : undefined),
      timeoutSeconds,
    );
    return { seconds: secondsSince(start), messages: devices.published + devices.commands, commands: devices.commands };
  } finally {
    await devices.close();
    await bare.stop();
  }
}

async function flotillaRun(dialect: Dialect, work: string, sizes: KantoSizes, timeoutSeconds: number) {
  const dataDir = join(work, `kanto-${dialect}`);
  const fleet = await seedFleet(dialect, dataDir, { devices: 0, tokens: 0, groupEvery: 10 });
  let server: Server | undefined;
  let devices: Devices | undefined;
  try {
    const mqttPort = await freePort();
    // Looks for Kanto work every second (the default is 5 s): as the Mender devices poll without intervals, this
    // measures the server more than the wait.
    server = await startServer(dataDir, {
      ...fleetEnv(fleet),
      // A refresh sent again (see below) is a warning per device: hundreds of lines.
      FLOTILLA_LOG_LEVEL: 'error',
      FLOTILLA_MQTT_PORT: String(mqttPort),
      FLOTILLA_KANTO_PUSH_INTERVAL: '1',
    });
    const url = server.url;
    const admin = await login(url, fleet.adminEmail, fleet.adminPassword);
    const state = (await (
      await call(url, admin, 'POST', '/api/kanto/v1/desired-states', 201, {
        name: 'bench-kanto',
        version: '1.0',
        device_types_compatible: [KANTO_DEVICE_TYPE],
        desired_state: DESIRED_STATE,
      })
    ).json()) as { name: string };

    progress(`kanto (${dialect}): registering and connecting ${sizes.devices} devices`);
    const setup = process.hrtime.bigint();
    const password = `bench-${randomBytes(12).toString('hex')}`;
    const things = thingIds(sizes.devices);
    const registered: { thingId: string; username: string; tenantId: string }[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(sizes.concurrency, things.length) }, async () => {
        while (next < things.length) {
          const thingId = things[next++];
          const view = (await (
            await call(url, admin, 'POST', '/api/kanto/v1/devices', 201, {
              thing_id: thingId,
              device_type: KANTO_DEVICE_TYPE,
              password,
            })
          ).json()) as { username: string; tenant_id: string };
          registered.push({ thingId, username: view.username, tenantId: view.tenant_id });
        }
      }),
    );
    devices = new Devices(
      registered.map(
        (thing) =>
          new KantoDeviceSimulator({
            url: `mqtt://127.0.0.1:${mqttPort}`,
            username: thing.username,
            password,
            tenantId: thing.tenantId,
            thingId: thing.thingId,
            topics: 'hono',
          }),
      ),
    );
    // On connect Flotilla asks each device for its current state (refresh); wait for all that to settle. Flotilla
    // sends it as the connection is ready, and a device that has not subscribed yet misses it: it comes again
    // when the command times out (30 s), which is then most of the set-up's time.
    const connectedAt = new Map<KantoDeviceSimulator, number>();
    const late = new Set<KantoDeviceSimulator>();
    const refreshed = new Set<KantoDeviceSimulator>();
    for (const device of devices.list) {
      device.on('command', (operation: string) => {
        if (operation !== 'refresh') return;
        refreshed.add(device);
        if (performance.now() - (connectedAt.get(device) ?? 0) > 5000) late.add(device);
      });
    }
    await devices.connect(sizes.concurrency, (device) => connectedAt.set(device, performance.now()));
    await until(
      'every device to be asked for its current state',
      async () => (refreshed.size === sizes.devices ? true : undefined),
      120,
    );
    if (late.size)
      progress(
        `kanto (${dialect}): ${late.size} devices missed the refresh on connect and got it when it was sent again`,
      );
    await waitQuiet(server.process.pid as number);
    const setupSeconds = secondsSince(setup);

    progress(`kanto (${dialect}): ${sizes.devices} devices through a desired-state deployment`);
    devices.reset();
    const start = process.hrtime.bigint();
    const finished = devices.allFinished(timeoutSeconds);
    finished.catch(() => undefined); // awaited below; handled here in case what comes first throws
    const created = await call(url, admin, 'POST', DEPLOYMENTS, 201, {
      name: 'bench kanto',
      artifact_name: state.name,
      all_devices: true,
    });
    const id = String(created.headers.get('location')).split('/').pop();
    await finished;
    let stats: Record<string, number> = {};
    await until(
      'the statistics to count every device a success',
      async () => {
        stats = (await (await call(url, admin, 'GET', `${DEPLOYMENTS}/${id}/statistics`, 200)).json()) as Record<
          string,
          number
        >;
        return stats.success === sizes.devices ? true : undefined;
      },
      timeoutSeconds,
    ).catch((error: Error) => {
      const counted = Object.entries(stats).filter(([, n]) => n > 0);
      throw new Error(
        `${error.message} (every device completed; the statistics say ${JSON.stringify(Object.fromEntries(counted))})`,
      );
    });
    const seconds = secondsSince(start);
    const deployment = (await (await call(url, admin, 'GET', `${DEPLOYMENTS}/${id}`, 200)).json()) as {
      status: string;
    };
    if (deployment.status !== 'finished') throw new Error(`the deployment is ${deployment.status}`);
    return {
      seconds,
      setupSeconds,
      missedRefresh: late.size,
      messages: devices.published + devices.commands,
      commands: devices.commands,
    };
  } finally {
    await devices?.close();
    await server?.stop();
    await fleet.drop();
  }
}

export async function benchKanto(dialect: Dialect, work: string, sizes: KantoSizes): Promise<KantoResult> {
  /** How long the devices may go without one of them finishing before the benchmark gives up. */
  const timeoutSeconds = 60;
  progress(`kanto (${dialect}): baseline, ${sizes.devices} devices' messages through a bare aedes broker`);
  const baseline = await baselineRun(sizes, timeoutSeconds);
  const flotilla = await flotillaRun(dialect, work, sizes, timeoutSeconds);
  if (baseline.messages !== flotilla.messages || baseline.commands !== flotilla.commands) {
    throw new Error(
      `the baseline moved ${baseline.messages} messages (${baseline.commands} commands), ` +
        `Flotilla ${flotilla.messages} (${flotilla.commands})`,
    );
  }
  return {
    dialect,
    devices: sizes.devices,
    messages: flotilla.messages,
    commands: flotilla.commands,
    flotillaSeconds: flotilla.seconds,
    baselineSeconds: baseline.seconds,
    setupSeconds: flotilla.setupSeconds,
    missedRefresh: flotilla.missedRefresh,
  };
}
