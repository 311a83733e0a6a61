// The fleet simulator drives a 1,000-device mixed deployment (Mender, hawkBit DDI, Kanto over the embedded MQTT
// broker) to its end against a real server listening on a port, on SQLite: one artifact name serves all three
// (a single-file artifact for the Mender and DDI device types, a desired state for the Kanto one); 5% of the devices
// are told to fail. Statistics and the simulator's summary agree.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_DEVICE_TYPES, runSimulation } from '../../src/agent/simulator.js';
import { adminToken, type TestApp, testApp } from '../support/app.js';
import { multipart } from '../support/multipart.js';

const DEVICES = 1000;

describe('fleet simulator (sqlite)', () => {
  let t: TestApp;
  let server = '';
  let token = '';

  before(async () => {
    t = await testApp('sqlite', { mqttPort: 0, kantoPushInterval: 0.2, rateLimit: { max: 0, windowMs: 60_000 } });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const address = t.app.server.address();
    server = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    token = await adminToken(t, 'sim@example.com', 'sim-password-1');
    const body = multipart(
      {
        name: 'sim-1.0',
        device_types_compatible: `${DEFAULT_DEVICE_TYPES.mender},${DEFAULT_DEVICE_TYPES.ddi}`,
        type: 'single_file',
        args: JSON.stringify({ dest_dir: '/tmp', filename: 'sim.txt' }),
      },
      { field: 'file', filename: 'sim.txt', content: Buffer.from('simulated release 1.0\n') },
    );
    const generated = await t.app.inject({
      method: 'POST',
      url: '/api/management/v1/deployments/artifacts/generate',
      headers: { authorization: `Bearer ${token}`, ...body.headers },
      payload: body.payload,
    });
    assert.equal(generated.statusCode, 201, generated.body);
    const desired = await t.app.inject({
      method: 'POST',
      url: '/api/kanto/v1/desired-states',
      headers: { authorization: `Bearer ${token}` },
      payload: {
        name: 'sim',
        version: '1.0',
        device_types_compatible: [DEFAULT_DEVICE_TYPES.kanto],
        desired_state: {
          domains: [{ id: 'containers', config: [], components: [{ id: 'app', version: '1.0', config: [] }] }],
        },
      },
    });
    assert.equal(desired.statusCode, 201, desired.body);
    assert.equal(desired.json().name, 'sim-1.0');
  });
  after(() => t.close());

  it('runs 1,000 mixed devices through one deployment to its end', async () => {
    const summary = await runSimulation({
      server,
      devices: DEVICES,
      protocol: 'mixed',
      email: 'sim@example.com',
      password: 'sim-password-1',
      mqttUrl: t.app.kanto.broker?.address(),
      pollIntervalMs: 200,
      failureRatio: 0.05,
      concurrency: 32,
      deploy: 'sim-1.0',
      timeoutMs: 5 * 60_000,
    });
    assert.deepEqual(summary.devices, { mender: 334, ddi: 333, kanto: 333 });
    assert.equal(summary.deploymentStatus, 'finished');
    assert.equal(summary.failed, 50, 'the devices told to fail');
    assert.equal(summary.updated, DEVICES - 50);
    assert.equal(summary.errors, 0);
    assert.ok(summary.requests > DEVICES * 3);
    assert.ok(summary.latencyMs.p50 > 0 && summary.latencyMs.p99 >= summary.latencyMs.p50);

    const stats = await t.app.inject({
      method: 'GET',
      url: `/api/management/v1/deployments/deployments/${summary.deploymentId}/statistics`,
      headers: { authorization: `Bearer ${token}` },
    });
    const s = stats.json();
    assert.deepEqual([s.success, s.failure, s.pending], [DEVICES - 50, 50, 0]);
  });
});
