// Creating a deployment over the whole fleet and over a static group, and reading a deployment's statistics.
//
// Baselines, run by the benchmark on its own connection to the same database while the server is idle:
// - creating: the least SQL that records such a deployment, in one transaction: the deployment row and one
//   set-based `INSERT INTO device_deployments ... SELECT ... FROM devices` (with the group's EXISTS for a group),
//   into the same indexed table. Flotilla does more (it resolves the devices through the inventory search, sends
//   the ids back and forth, checks the artifact, answers over HTTP), and the ratio says what that costs.
// - statistics: the bare `SELECT status, count(*) ... GROUP BY status` over the same rows, without HTTP.
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { DeploymentTable } from '../src/deployments/tables.js';
import type { Store } from '../src/store/db.js';
import { call, login, smallArtifact, uploadArtifact } from './api.js';
import { BENCH_DEVICE_TYPE, BENCH_GROUP, type Fleet } from './fleet.js';
import { median, progress, type Server, secondsSince } from './support.js';

const DEPLOYMENTS = '/api/management/v1/deployments/deployments';
export const BENCH_RELEASE = 'bench-1';

export interface DeploySizes {
  /** Group deployments created on each side (the median is reported). */
  groupRuns: number;
  statisticsRuns: number;
}

export interface DeployResult {
  devices: number;
  groupSize: number;
  all: { baselineSeconds: number; flotillaSeconds: number };
  group: { baselineSeconds: number; flotillaSeconds: number; runs: number };
  statistics: { baselineMs: number; flotillaMs: number; runs: number };
}

/** The baseline: a deployment row and its device rows by one INSERT ... SELECT. Removed again afterwards. */
async function baselineCreate(store: Store, tenantId: string, group?: string): Promise<number> {
  const id = randomUUID();
  const start = process.hrtime.bigint();
  await store.transaction(async (trx) => {
    const ts = new Date().toISOString();
    const row: DeploymentTable = {
      tenant_id: tenantId,
      id,
      name: 'baseline',
      artifact_name: BENCH_RELEASE,
      type: 'software',
      configuration: null,
      target: group ? 'group' : 'all',
      target_group: group ?? null,
      filter_id: null,
      filter_json: null,
      phases_json: null,
      first_phase_ts: null,
      retries: 0,
      max_devices: 0,
      control_map_json: null,
      force_installation: 0,
      handling_json: null,
      status: 'pending',
      created_ts: ts,
      finished_ts: null,
      device_count: 0,
      initial_device_count: 0,
      admitted: 0,
      paused: 0,
      resumed_through: -1,
      aborted: 0,
    };
    await trx.insertInto('deployments').values(row).execute();
    // A group is read from its attributes first (CROSS JOIN fixes that order on SQLite): with the planner left to
    // choose, a fleet whose attributes had just changed (the real-fleet poll's check-ins) got a plan that ran for
    // minutes.
    const source = group
      ? sql`from attributes a cross join devices d
          where a.tenant_id = ${tenantId} and a.scope = 'system' and a.name = 'group' and a.idx = 0
          and a.value_str = ${group} and d.tenant_id = a.tenant_id and d.id = a.device_id and d.status = 'accepted'`
      : sql`from devices d where d.tenant_id = ${tenantId} and d.status = 'accepted'`;
    await sql`insert into device_deployments
        (tenant_id, id, deployment_id, device_id, status, active, attempts, has_log, deployment_created_ts, created_ts)
      select d.tenant_id, d.id || ${`:${id}`}, ${id}, d.id, 'pending', 1, 1, 0, ${ts}, ${ts}
      ${source}`.execute(trx);
  });
  const seconds = secondsSince(start);
  await store.transaction(async (trx) => {
    await trx.deleteFrom('device_deployments').where('deployment_id', '=', id).execute();
    await trx.deleteFrom('deployments').where('id', '=', id).execute();
  });
  return seconds;
}

async function flotillaCreate(server: Server, token: string, path: string, body: object): Promise<[string, number]> {
  const start = process.hrtime.bigint();
  const res = await call(server.url, token, 'POST', path, 201, body);
  const seconds = secondsSince(start);
  return [String(res.headers.get('location')).split('/').pop() as string, seconds];
}

async function statisticsBaseline(store: Store, tenantId: string, id: string): Promise<number> {
  const start = process.hrtime.bigint();
  const rows = await store.db
    .selectFrom('device_deployments')
    .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
    .where('tenant_id', '=', tenantId)
    .where('deployment_id', '=', id)
    .groupBy('status')
    .execute();
  const seconds = secondsSince(start);
  if (rows.length === 0) throw new Error('statistics baseline found no rows');
  return seconds;
}

export async function benchDeployments(
  server: Server,
  fleet: Fleet,
  work: string,
  sizes: DeploySizes,
): Promise<DeployResult> {
  const token = await login(server.url, fleet.adminEmail, fleet.adminPassword);
  await uploadArtifact(server.url, token, await smallArtifact(work, BENCH_RELEASE, BENCH_DEVICE_TYPE));
  const store = await fleet.open();
  try {
    progress(`deployments (${fleet.dialect}): all ${fleet.devices} devices`);
    const allBaseline = await baselineCreate(store, fleet.tenantId);
    const [allId, allSeconds] = await flotillaCreate(server, token, DEPLOYMENTS, {
      name: 'bench all',
      artifact_name: BENCH_RELEASE,
      all_devices: true,
    });

    progress(`deployments (${fleet.dialect}): group of ${fleet.groupSize}, ${sizes.groupRuns} runs each side`);
    const groupBaselines: number[] = [];
    const groupRuns: number[] = [];
    for (let i = 0; i < sizes.groupRuns; i++) {
      groupBaselines.push(await baselineCreate(store, fleet.tenantId, BENCH_GROUP));
      const [, seconds] = await flotillaCreate(server, token, `${DEPLOYMENTS}/group/${BENCH_GROUP}`, {
        name: `bench group ${i}`,
        artifact_name: BENCH_RELEASE,
      });
      groupRuns.push(seconds);
    }

    progress(`deployments (${fleet.dialect}): statistics, ${sizes.statisticsRuns} runs each side`);
    const statsPath = `${DEPLOYMENTS}/${allId}/statistics`;
    const stats = (await (await call(server.url, token, 'GET', statsPath, 200)).json()) as Record<string, number>;
    if (stats.pending !== fleet.devices) throw new Error(`statistics: ${JSON.stringify(stats)}`);
    await statisticsBaseline(store, fleet.tenantId, allId);
    const statsBaseline: number[] = [];
    const statsFlotilla: number[] = [];
    for (let i = 0; i < sizes.statisticsRuns; i++) {
      statsBaseline.push(await statisticsBaseline(store, fleet.tenantId, allId));
      const start = process.hrtime.bigint();
      await (await call(server.url, token, 'GET', statsPath, 200)).arrayBuffer();
      statsFlotilla.push(secondsSince(start));
    }
    return {
      devices: fleet.devices,
      groupSize: fleet.groupSize,
      all: { baselineSeconds: allBaseline, flotillaSeconds: allSeconds },
      group: { baselineSeconds: median(groupBaselines), flotillaSeconds: median(groupRuns), runs: sizes.groupRuns },
      statistics: {
        baselineMs: median(statsBaseline) * 1000,
        flotillaMs: median(statsFlotilla) * 1000,
        runs: sizes.statisticsRuns,
      },
    };
  } finally {
    await store.close();
  }
}
