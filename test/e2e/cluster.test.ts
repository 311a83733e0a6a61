// Scale-out end to end (issue 17): three `flotilla serve` processes behind HAProxy on one fresh PostgreSQL database
// and one radosgw bucket, Kanto through the machine's Mosquitto as the external broker. `flotilla simulate` (a child
// process, as an operator would run it) drives a mixed fleet of Mender, hawkBit DDI and Kanto devices through one
// phased deployment through HAProxy; in the middle one process is killed with SIGKILL and started again. The
// deployment must finish with every device counted exactly once: one attempt row per device, each on its first
// attempt, the server's statistics equal to what the devices themselves report, and the bucket holds exactly the
// artifacts' objects. The fleet is the issue's 3,000 devices (1,000 of each protocol; CLUSTER_DEVICES sets another,
// a multiple of 3): about 2.5 minutes on a 2-core machine, once PostgreSQL had planner statistics during enrollment
// (src/store/pg-statistics.ts) and Kanto devices on an external broker no scrypt-hashed password; before, 15 minutes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';
import type { SimulationSummary } from '../../src/agent/simulator.js';
import { MOSQUITTO_URL } from '../kanto/support.js';
import { type Cluster, haproxyMissing, startCluster } from '../support/cluster.js';
import { type Radosgw, radosgwBucket, radosgwMissing, startRadosgw } from '../support/radosgw.js';
import { waitFor } from './process.js';

const REPO = resolve(import.meta.dirname, '../..');
const BUCKET = 'flotilla-cluster';
const PREFIX = 'fleet/';
const DEVICES = Number(process.env.CLUSTER_DEVICES ?? 3000);
const FAILURE_RATIO = 0.01;
const skip =
  process.env.FLOTILLA_TEST_DIALECTS === 'sqlite' ? 'PostgreSQL only' : (radosgwMissing() ?? haproxyMissing());

describe('three flotilla serve processes behind HAProxy, one killed mid-rollout', { skip }, () => {
  let rgw: Radosgw | undefined;
  let s3: S3Client | undefined;
  let cluster: Cluster | undefined;
  let db: pg.Client | undefined;

  before(async () => {
    rgw = await startRadosgw();
    s3 = await radosgwBucket(rgw, BUCKET);
    cluster = await startCluster(3, {
      FLOTILLA_S3_URL: `${rgw.endpoint}/${BUCKET}/${PREFIX.slice(0, -1)}`,
      FLOTILLA_S3_REGION: rgw.region,
      // Each fresh database has its own tenant ids, and the topics carry the tenant: no other test's devices mix in.
      FLOTILLA_MQTT_URL: MOSQUITTO_URL,
      FLOTILLA_KANTO_PUSH_INTERVAL: '1',
      // Phases start under the sweeper's lease.
      FLOTILLA_SWEEP_INTERVAL: '1',
      // Every simulated device comes from 127.0.0.1: the per-address limit is not what is tested here.
      FLOTILLA_RATE_LIMIT: '0',
    });
    db = new pg.Client({ connectionString: cluster.databaseUrl });
    await db.connect();
  });
  let failed = true;
  after(async () => {
    await db?.end();
    // A failed run keeps the servers' logs (their path is printed).
    const keep = failed ? join(tmpdir(), `flotilla-cluster-logs-${Date.now()}`) : undefined;
    if (keep) process.stderr.write(`cluster: the servers' logs are kept in ${keep}\n`);
    await cluster?.stop(keep);
    s3?.destroy();
    await rgw?.stop();
  });

  it('finishes a phased deployment of a mixed fleet with every device counted once', async () => {
    const c = cluster as Cluster;
    const node = c.nodes[0];
    const sim = spawn(
      process.execPath,
      [
        'bin/flotilla.js',
        'simulate',
        ...['--server', c.url, '--devices', String(DEVICES), '--protocol', 'mixed'],
        ...['--email', node.adminEmail, '--password', node.adminPassword],
        ...['--mqtt-url', MOSQUITTO_URL, '--kanto-topics', 'generic'],
        ...['--phases', '2', '--phase-interval', '15', '--poll-interval', '1', '--concurrency', '40'],
        ...['--failure-ratio', String(FAILURE_RATIO), '--keep', 'true', '--timeout', '1500'],
      ],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    sim.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    sim.stderr.on('data', (chunk) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    const exited = new Promise<number | null>((done) => sim.once('exit', done));

    // Mid-rollout: once a tenth of the fleet has succeeded, node 2 dies without warning and comes back.
    const succeeded = async () =>
      Number(
        (await (db as pg.Client).query("select count(*) as n from device_deployments where status = 'success'")).rows[0]
          .n,
      );
    await waitFor(
      'a tenth of the fleet updated',
      async () => {
        if (sim.exitCode !== null) throw new Error(`the simulator ended early:\n${stderr}`);
        return (await succeeded()) >= DEVICES / 10 ? true : undefined;
      },
      { timeoutMs: 600_000, intervalMs: 500 },
    );
    const servedBefore = await c.served();
    await c.kill(1);
    const atKill = await succeeded();
    await c.restart(1);

    const code = await exited;
    const summary = JSON.parse(stdout) as SimulationSummary;
    process.stderr.write(
      `cluster: ${DEVICES} devices in ${summary.seconds.toFixed(1)} s (enrolled in ${summary.enrollmentSeconds.toFixed(1)} s), killed at ${atKill} updated; ` +
        `simulator errors ${summary.errors} ${JSON.stringify(summary.failures)}, latency ${JSON.stringify(summary.latencyMs)}; ` +
        `HAProxy's sessions per node before the kill ${JSON.stringify(servedBefore)}, at the end ${JSON.stringify(await c.served())}\n`,
    );
    assert.ok(atKill < DEVICES * 0.9, `the kill came in the middle (${atKill} of ${DEVICES} already updated)`);
    for (const [name, served] of Object.entries(servedBefore)) assert.ok(served > 0, `${name} took requests`);
    assert.deepEqual(summary.devices, { mender: DEVICES / 3, ddi: DEVICES / 3, kanto: DEVICES / 3 });
    assert.equal(summary.deploymentStatus, 'finished', stderr);
    // The devices' own reports: each installed once (no retries were allowed), as many failed as were told to.
    const toldToFail = Math.round(FAILURE_RATIO * DEVICES);
    assert.deepEqual(summary.reported, { installs: DEVICES, success: DEVICES - toldToFail, failure: toldToFail });
    // The server's statistics say the same.
    assert.equal(summary.updated, summary.reported.success);
    assert.equal(summary.failed, summary.reported.failure);
    const errors = c.errors();
    if (errors.length) process.stderr.write(`cluster: server errors:\n${errors.slice(0, 20).join('\n')}\n`);
    if (code !== 0) {
      // Only the requests that the kill cut may have failed (answered 502/503 by HAProxy or not at all).
      for (const status of Object.keys(summary.failures)) assert.ok(['0', '502', '503'].includes(status), status);
    }

    // One attempt row per device, each on its first attempt, all ended; the statistics are those rows.
    const rows = await (db as pg.Client).query(
      `select count(*)::int as rows, count(distinct device_id)::int as devices, max(attempts)::int as attempts,
              count(*) filter (where status = 'success')::int as success,
              count(*) filter (where status = 'failure')::int as failure
         from device_deployments where deployment_id = $1`,
      [summary.deploymentId],
    );
    assert.deepEqual(rows.rows[0], {
      rows: DEVICES,
      devices: DEVICES,
      attempts: 1,
      success: summary.reported.success,
      failure: summary.reported.failure,
    });

    // The bucket holds exactly the artifacts' objects: none orphaned, none missing.
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await (s3 as S3Client).send(new ListObjectsV2Command({ Bucket: BUCKET, ContinuationToken: token }));
      for (const o of page.Contents ?? []) keys.push(o.Key as string);
      token = page.NextContinuationToken;
    } while (token);
    const artifacts = await (db as pg.Client).query("select blob_key from artifacts where blob_key <> ''");
    assert.ok(artifacts.rows.length > 0);
    assert.deepEqual(keys.sort(), artifacts.rows.map((r) => `${PREFIX}${r.blob_key}`).sort());
    failed = false;
  });
});
