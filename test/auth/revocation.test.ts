// Revocation with warm caches, on two server processes sharing one database (the same PostgreSQL schema, or the
// same SQLite file): whatever ends a token's life on process A refuses it on A at once, and on B within the
// revocation feed's bound. Before each change, B is shown to answer from memory (no statement on the auth tables),
// so the refusal is the feed's doing, not a database read. The bound is checked without timing slack: every request
// B still accepts must have started within STALE_AFTER_MS of the change (see src/auth/revocations.ts).
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { STALE_AFTER_MS } from '../../src/auth/revocations.js';
import { adminToken, dialects, type TestApp, testApp } from '../support/app.js';
import { testDevice } from '../support/device.js';
import { authStatements, secondProcess } from './support.js';

const NEXT = '/api/devices/v2/deployments/device/deployments/next';
const DEVAUTH = '/api/management/v2/devauth';
const USERADM = '/api/management/v1/useradm';
/** How long to wait for B before calling it a failure; the assertion on the bound is separate and exact. */
const GIVE_UP_MS = 15_000;

const jtiOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString()).jti as string;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

let macs = 0;

for (const dialect of dialects) {
  describe(`revocation on one process reaches every process (${dialect})`, () => {
    let a: TestApp;
    let b: { app: FastifyInstance; close(): Promise<void> };
    let admin: string;

    before(async () => {
      a = await testApp(dialect);
      admin = await adminToken(a);
      b = await secondProcess(a);
      // Check-ins are written in the background; out of the way here, so that statements counted are requests'.
      await a.services.devices.stopCheckIns();
      await b.app.services.devices.stopCheckIns();
    });
    after(async () => {
      await b?.close();
      await a?.close();
    });

    const poll = async (app: FastifyInstance, token: string) =>
      (
        await app.inject({
          method: 'POST',
          url: NEXT,
          headers: bearer(token),
          payload: { device_provides: { device_type: 'qemux86-64', artifact_name: 'release-1' } },
        })
      ).statusCode;
    /** A management request that reads nothing behind authentication once warm. */
    const limits = (app: FastifyInstance, token: string) =>
      app.inject({ method: 'GET', url: `${DEVAUTH}/limits/max_devices`, headers: bearer(token) });
    const manage = async (app: FastifyInstance, token: string) => (await limits(app, token)).statusCode;

    const enrolled = () =>
      testDevice({
        mac: `0b:00:00:00:${dialect === 'sqlite' ? '01' : '02'}:${(++macs).toString(16).padStart(2, '0')}`,
      }).enroll(a.app, admin);

    const userToken = async (email: string, roles?: string[]) => {
      const user = await a.services.users.create(a.tenant.id, email, 'correct-horse-battery', undefined, roles);
      const res = await a.app.inject({
        method: 'POST',
        url: `${USERADM}/auth/login`,
        headers: { authorization: `Basic ${Buffer.from(`${email}:correct-horse-battery`).toString('base64')}` },
      });
      assert.equal(res.statusCode, 200);
      return { userId: user.id, token: res.body };
    };

    /**
     * Warms both processes, shows B answering from memory, makes the change on A, then: A answers `changed` at
     * once; B answers `unchanged` only to requests that started within the bound, and `changed` eventually.
     */
    async function reachesEveryProcess<T>(
      ctx: TestContext,
      observe: (app: FastifyInstance) => Promise<T>,
      expected: { unchanged: T; changed: T },
      change: () => Promise<void>,
    ) {
      assert.deepEqual(await observe(a.app), expected.unchanged);
      assert.deepEqual(await observe(b.app), expected.unchanged);
      const bStore = b.app.services.store;
      bStore.trace(true);
      let traced: string[];
      try {
        assert.deepEqual(await observe(b.app), expected.unchanged);
      } finally {
        traced = bStore.trace(false);
      }
      assert.deepEqual(authStatements(traced), [], 'B answers from memory before the change');

      await change();
      const changedAt = Date.now();
      assert.deepEqual(await observe(a.app), expected.changed, 'the process that made the change: at once');
      for (;;) {
        const started = Date.now();
        const seen = await observe(b.app);
        if (JSON.stringify(seen) === JSON.stringify(expected.changed)) {
          ctx.diagnostic(`the other process saw it ${started - changedAt} ms after the change returned`);
          return;
        }
        assert.deepEqual(seen, expected.unchanged);
        assert.ok(
          started - changedAt <= STALE_AFTER_MS,
          `the other process still answered as before ${started - changedAt} ms after the change`,
        );
        assert.ok(Date.now() - changedAt < GIVE_UP_MS, 'the other process never saw the change');
        await sleep(25);
      }
    }

    const deviceRefused = { unchanged: 204, changed: 401 };
    const userRefused = { unchanged: 200, changed: 401 };

    it('rejecting a device', async (ctx) => {
      const { token, deviceId, authSetId } = await enrolled();
      await reachesEveryProcess(
        ctx,
        (app) => poll(app, token),
        deviceRefused,
        async () => {
          const res = await a.app.inject({
            method: 'PUT',
            url: `${DEVAUTH}/devices/${deviceId}/auth/${authSetId}/status`,
            headers: bearer(admin),
            payload: { status: 'rejected' },
          });
          assert.equal(res.statusCode, 204);
        },
      );
    });

    it('revoking a device token', async (ctx) => {
      const { token } = await enrolled();
      await reachesEveryProcess(
        ctx,
        (app) => poll(app, token),
        deviceRefused,
        async () => {
          const res = await a.app.inject({
            method: 'DELETE',
            url: `${DEVAUTH}/tokens/${jtiOf(token)}`,
            headers: bearer(admin),
          });
          assert.equal(res.statusCode, 204);
        },
      );
    });

    it('decommissioning a device', async (ctx) => {
      const { token, deviceId } = await enrolled();
      await reachesEveryProcess(
        ctx,
        (app) => poll(app, token),
        deviceRefused,
        async () => {
          const res = await a.app.inject({
            method: 'DELETE',
            url: `${DEVAUTH}/devices/${deviceId}`,
            headers: bearer(admin),
          });
          assert.equal(res.statusCode, 204);
        },
      );
    });

    it("dismissing a device's auth set", async (ctx) => {
      const { token, deviceId, authSetId } = await enrolled();
      await reachesEveryProcess(
        ctx,
        (app) => poll(app, token),
        deviceRefused,
        async () => {
          const res = await a.app.inject({
            method: 'DELETE',
            url: `${DEVAUTH}/devices/${deviceId}/auth/${authSetId}`,
            headers: bearer(admin),
          });
          assert.equal(res.statusCode, 204);
        },
      );
    });

    it('logging out', async (ctx) => {
      const { token } = await userToken(`logout-${dialect}@example.com`);
      await reachesEveryProcess(
        ctx,
        (app) => manage(app, token),
        userRefused,
        async () => {
          const res = await a.app.inject({ method: 'POST', url: `${USERADM}/auth/logout`, headers: bearer(token) });
          assert.equal(res.statusCode, 202);
        },
      );
    });

    it('revoking a personal access token', async (ctx) => {
      const issued = await a.app.inject({
        method: 'POST',
        url: `${USERADM}/settings/tokens`,
        headers: bearer(admin),
        payload: { name: `pat-${dialect}`, expires_in: 3600 },
      });
      assert.equal(issued.statusCode, 200);
      const pat = issued.body;
      await reachesEveryProcess(
        ctx,
        (app) => manage(app, pat),
        userRefused,
        async () => {
          const res = await a.app.inject({
            method: 'DELETE',
            url: `${USERADM}/settings/tokens/${jtiOf(pat)}`,
            headers: bearer(admin),
          });
          assert.equal(res.statusCode, 204);
        },
      );
      assert.equal(await manage(b.app, admin), 200, "the owner's own login lives on");
    });

    it('deleting a user', async (ctx) => {
      const { userId, token } = await userToken(`deleted-${dialect}@example.com`);
      await reachesEveryProcess(
        ctx,
        (app) => manage(app, token),
        userRefused,
        async () => {
          const res = await a.app.inject({
            method: 'DELETE',
            url: `${USERADM}/users/${userId}`,
            headers: bearer(admin),
          });
          assert.equal(res.statusCode, 204);
        },
      );
    });

    // Role changes keep the user's tokens (PATs included) and void only their cached access: `manage` needs
    // devices:read, which the read-only role has and the releases manager has not.
    const rbacRefused = { unchanged: 200, changed: 403 };

    it("changing a user's roles: their personal access token carries the new ones", async (ctx) => {
      const { userId, token } = await userToken(`observer-${dialect}@example.com`, ['RBAC_ROLE_OBSERVER']);
      const issued = await a.app.inject({
        method: 'POST',
        url: `${USERADM}/settings/tokens`,
        headers: bearer(token),
        payload: { name: 'ci', expires_in: 3600 },
      });
      assert.equal(issued.statusCode, 200);
      const pat = issued.body;
      await reachesEveryProcess(
        ctx,
        (app) => manage(app, pat),
        rbacRefused,
        async () => {
          const res = await a.app.inject({
            method: 'PUT',
            url: `${USERADM}/users/${userId}`,
            headers: bearer(admin),
            payload: { roles: ['RBAC_ROLE_CI'] },
          });
          assert.equal(res.statusCode, 204);
        },
      );
      const me = await b.app.inject({ method: 'GET', url: `${USERADM}/users/me`, headers: bearer(pat) });
      assert.equal(me.statusCode, 200, 'the token itself lives on');
      assert.deepEqual(me.json().roles, ['RBAC_ROLE_CI']);
    });

    it('changing a custom role that a user holds', async (ctx) => {
      const role = (sets: string[]) => ({ permission_sets_with_scope: sets.map((name) => ({ name })) });
      const created = await a.app.inject({
        method: 'POST',
        url: '/api/management/v2/useradm/roles',
        headers: bearer(admin),
        payload: { name: `readers-${dialect}`, ...role(['ReadDevices']) },
      });
      assert.equal(created.statusCode, 201);
      const { token } = await userToken(`reader-${dialect}@example.com`, [`readers-${dialect}`]);
      await reachesEveryProcess(
        ctx,
        (app) => manage(app, token),
        rbacRefused,
        async () => {
          const res = await a.app.inject({
            method: 'PUT',
            url: `/api/management/v2/useradm/roles/readers-${dialect}`,
            headers: bearer(admin),
            payload: role(['ReadReleases']),
          });
          assert.equal(res.statusCode, 200);
        },
      );
    });

    it("changing a tenant's device limit", async (ctx) => {
      const limit = async (app: FastifyInstance) => (await limits(app, admin)).json() as { limit: number };
      await reachesEveryProcess(ctx, limit, { unchanged: { limit: -1 }, changed: { limit: 500 } }, () =>
        a.services.tenants.setMaxDevices(a.tenant.id, 500),
      );
      await a.services.tenants.setMaxDevices(a.tenant.id, 0);
    });

    it('a token revoked on B while A holds it: the feed runs both ways', async (ctx) => {
      const { token } = await enrolled();
      const [aa, bb] = [a.app, b.app];
      assert.equal(await poll(aa, token), 204);
      assert.equal(await poll(bb, token), 204);
      const res = await bb.inject({
        method: 'DELETE',
        url: `${DEVAUTH}/tokens/${jtiOf(token)}`,
        headers: bearer(admin),
      });
      assert.equal(res.statusCode, 204);
      const changedAt = Date.now();
      assert.equal(await poll(bb, token), 401);
      for (;;) {
        const started = Date.now();
        if ((await poll(aa, token)) === 401) break;
        assert.ok(started - changedAt <= STALE_AFTER_MS, `A still accepted it ${started - changedAt} ms later`);
        await sleep(25);
      }
      ctx.diagnostic(`A refused it ${Date.now() - changedAt} ms after`);
    });
  });
}
