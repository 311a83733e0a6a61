// Check-ins of a real fleet (each device polling long after its last check-in, so every poll is a due check-in),
// counted with the store's statement log on both dialects: the polls themselves run no statement, the flush writes
// all of them with one statement, a time never moves back (two processes flushing in either order), and a graceful
// shutdown writes what is still noted.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DeviceStore } from '../../src/devices/store.js';
import { secondProcess } from '../auth/support.js';
import { adminToken, dialects, type TestApp, testApp } from '../support/app.js';
import { testDevice } from '../support/device.js';

const NEXT = '/api/devices/v2/deployments/device/deployments/next';
const DEVICES = 6;
const HALF_AN_HOUR_AGO = () => new Date(Date.now() - 30 * 60_000).toISOString();

const isWrite = (text: string) => /^\s*(with\b[\s\S]*?\)\s*\)\s*)?(insert|update|delete)\b/i.test(text);

for (const dialect of dialects) {
  describe(`check-ins of a real fleet (${dialect})`, () => {
    let t: TestApp;
    let fleet: { token: string; deviceId: string }[] = [];
    let macs = 0;
    const poll = (app: TestApp['app'], token: string) =>
      app.inject({
        method: 'POST',
        url: NEXT,
        headers: { authorization: `Bearer ${token}` },
        payload: { device_provides: { device_type: 'qemux86-64', artifact_name: 'release-1' } },
      });
    const stored = async () =>
      new Map(
        (
          await t.services.store.db
            .selectFrom('devices')
            .select(['id', 'check_in_ts'])
            .where(
              'id',
              'in',
              fleet.map((d) => d.deviceId),
            )
            .execute()
        ).map((r) => [r.id, r.check_in_ts]),
      );
    const setBack = () =>
      t.services.store.db
        .updateTable('devices')
        .set({ check_in_ts: HALF_AN_HOUR_AGO() })
        .where(
          'id',
          'in',
          fleet.map((d) => d.deviceId),
        )
        .execute();

    before(async () => {
      t = await testApp(dialect);
      const admin = await adminToken(t);
      fleet = [];
      for (let i = 0; i < DEVICES; i++) {
        const mac = `0c:00:00:00:00:${(++macs).toString(16).padStart(2, '0')}`;
        fleet.push(await testDevice({ mac }, 'ed25519').enroll(t.app, admin));
      }
      // Each device has polled once (its token is known to this process), as in a fleet's steady state.
      for (const d of fleet) assert.equal((await poll(t.app, d.token)).statusCode, 204);
      await t.services.devices.flushCheckIns();
    });
    after(() => t.close());

    it('polls of devices last seen half an hour ago run no statement; one statement writes all their check-ins', async () => {
      await t.services.devices.stopCheckIns(); // no background flush in the middle of the count
      try {
        await setBack();
        const before = await stored();
        t.services.store.trace(true);
        let polls: string[];
        try {
          for (const d of fleet) assert.equal((await poll(t.app, d.token)).statusCode, 204);
        } finally {
          polls = t.services.store.trace(false).filter((s) => !/"revocations"/.test(s));
        }
        assert.deepEqual(polls, [], 'no statement on the request path');
        assert.deepEqual(await stored(), before, 'nothing written yet');

        t.services.store.trace(true);
        let flush: string[];
        try {
          await t.services.devices.flushCheckIns();
        } finally {
          flush = t.services.store.trace(false).filter((s) => !/"revocations"/.test(s));
        }
        const writes = flush.filter(isWrite);
        assert.equal(writes.length, 1, `one write for ${DEVICES} devices:\n  ${flush.join('\n  ')}`);
        assert.match(writes[0], /update "devices"/);
        assert.ok(!flush.some((s) => /^\s*begin\b/i.test(s)), 'a single statement needs no transaction');
        for (const [id, ts] of await stored()) {
          assert.ok(ts && ts > (before.get(id) as string), `device ${id} checked in (${before.get(id)} → ${ts})`);
          assert.ok(Date.now() - Date.parse(ts) < 60_000, ts);
        }
      } finally {
        t.services.devices.startCheckIns();
      }
    });

    it('never moves a check-in back: processes flushing in either order leave the latest', async () => {
      const [a, b] = fleet;
      const store = new DeviceStore(t.services.store.db, t.tenant.id);
      const later = new Date(Date.now() + 60_000).toISOString();
      const earlier = new Date(Date.now() - 60_000).toISOString();
      assert.equal(await store.advanceCheckIns([{ id: a.deviceId, ts: later }]), 1);
      // A process that saw device a earlier flushes last; device b's earlier time is still newer than its own.
      await store.advanceCheckIns([
        { id: a.deviceId, ts: earlier },
        { id: b.deviceId, ts: later },
      ]);
      const rows = await stored();
      assert.equal(rows.get(a.deviceId), later);
      assert.equal(rows.get(b.deviceId), later);
    });

    it('writes the check-ins it still holds when the server shuts down', async () => {
      await setBack();
      const before = await stored();
      const other = await secondProcess(t);
      let closed = false;
      try {
        // Its timer stopped (nothing noted yet, so nothing written): only the shutdown can write what follows.
        await other.app.services.devices.stopCheckIns();
        for (const d of fleet) assert.equal((await poll(other.app, d.token)).statusCode, 204);
        assert.deepEqual(await stored(), before, 'noted, not written');
        await other.close();
        closed = true;
      } finally {
        if (!closed) await other.close();
      }
      for (const [id, ts] of await stored()) {
        assert.ok(ts && ts > (before.get(id) as string), `device ${id} written at shutdown (${ts})`);
      }
    });
  });
}
