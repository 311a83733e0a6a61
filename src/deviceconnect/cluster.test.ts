// The cross-process relay survives losing its listening connection: a terminated backend is replaced and frames flow
// again (before, the relay stayed deaf until the process restarted). PostgreSQL only: SQLite has one process, no relay.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { FastifyBaseLogger } from 'fastify';
import pg from 'pg';
import { dialects, TEST_PG_URL } from '../../test/support/app.js';
import { ClusterRelay } from './cluster.js';
import { DeviceLinks } from './links.js';
import { encodeProtoMsg, PROTO_SHELL } from './protomsg.js';

const quiet = { error() {}, warn() {}, info() {} } as unknown as FastifyBaseLogger;

/** The backend listening for `relay`, read from pg_stat_activity (its last statement is the LISTEN). */
async function listenerPids(admin: pg.Client, relay: ClusterRelay): Promise<number[]> {
  const channel = `flotilla_dc_${relay.nodeId.replaceAll('-', '')}`;
  const { rows } = await admin.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE query = $1 AND pid <> pg_backend_pid()',
    [`LISTEN ${channel}`],
  );
  return rows.map((r) => r.pid);
}

/** Sends a frame for an unknown device from `from` to `owner`; resolves when `from` hears back that it is gone. */
function roundTrip(from: ClusterRelay, owner: ClusterRelay): Promise<void> {
  const sid = randomUUID();
  return new Promise((resolve) => {
    from.remoteSessions.set(sid, {
      deliver() {},
      deviceGone() {
        from.remoteSessions.delete(sid);
        resolve();
      },
    });
    from
      .remoteLink('tenant', 'no-such-device', owner.nodeId)
      .send(encodeProtoMsg({ proto: PROTO_SHELL, typ: 'new', sid }));
  });
}

describe('device connect relay between processes (postgres)', { skip: !dialects.includes('postgres') }, () => {
  const admin = new pg.Client({ connectionString: TEST_PG_URL });
  const owner = new ClusterRelay(TEST_PG_URL, new DeviceLinks());
  const operator = new ClusterRelay(TEST_PG_URL, new DeviceLinks());

  before(async () => {
    await admin.connect();
    await owner.start(quiet);
    await operator.start(quiet);
  });

  after(async () => {
    await operator.stop();
    await owner.stop();
    await admin.end();
  });

  it('carries frames both ways, and again after its listening backend is terminated', async () => {
    const [pid] = await listenerPids(admin, owner);
    assert.ok(pid, 'the owner listens');
    await roundTrip(operator, owner);
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    // A new backend listens on the owner's channel (bounded: 300 looks, 100 ms apart).
    let again: number[] = [];
    for (let i = 0; i < 300; i++) {
      again = (await listenerPids(admin, owner)).filter((p) => p !== pid);
      if (again.length > 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(again.length, 1, 'the owner listens again on a new connection');
    await roundTrip(operator, owner);
    await roundTrip(owner, operator);
  });
});
