import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { dialects, type TestApp, testApp } from '../../../test/support/app.js';

const V1 = '/api/management/v1/useradm';
const V2 = '/api/management/v2/useradm';
const PASSWORD = 'correct-horse';

const basic = (email: string, password: string) => `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}`;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());

let counter = 0;
const freshEmail = (prefix = 'user') => `${prefix}-${++counter}-${randomUUID().slice(0, 8)}@example.com`;

for (const dialect of dialects) {
  describe(`useradm management API (${dialect})`, () => {
    let t: TestApp;
    before(async () => {
      t = await testApp(dialect);
    });
    after(() => t.close());

    const login = (email: string, password: string, extra: Record<string, unknown> = {}) =>
      t.app.inject({
        method: 'POST',
        url: `${V1}/auth/login`,
        headers: { authorization: basic(email, password) },
        ...extra,
      });

    /** A user in the default tenant (or another) and a logged-in token. */
    async function userWithToken(tenantId = t.tenant.id, email = freshEmail()) {
      const user = await t.services.users.create(tenantId, email, PASSWORD);
      const res = await login(email, PASSWORD);
      assert.equal(res.statusCode, 200, res.body);
      return { user, email, token: res.body };
    }

    const tokenRows = (userId: string) =>
      t.services.store.db.selectFrom('user_tokens').selectAll().where('user_id', '=', userId).execute();

    describe('login', () => {
      it('answers a bare JWT as application/jwt, records the session and the login time', async () => {
        const email = freshEmail();
        const user = await t.services.users.create(t.tenant.id, email, PASSWORD);
        const before = Date.now();
        const res = await login(email, PASSWORD);
        assert.equal(res.statusCode, 200);
        assert.match(String(res.headers['content-type']), /^application\/jwt/);
        assert.match(res.body, /^[\w-]+\.[\w-]+\.[\w-]+$/);
        const claims = claimsOf(res.body);
        assert.equal(claims.sub, user.id);
        assert.equal(claims['mender.tenant'], t.tenant.id);
        assert.equal(claims['mender.user'], true);
        const rows = await tokenRows(user.id);
        assert.equal(rows.length, 1);
        assert.equal(rows[0].kind, 'login');
        assert.equal(rows[0].id, claims.jti);
        const ttlMs = Date.parse(rows[0].expires_ts) - before;
        assert.ok(Math.abs(ttlMs - t.config.userTokenTtl * 1000) < 60_000, `ttl ${ttlMs}`);
        const me = await t.app.inject({ method: 'GET', url: `${V1}/users/me`, headers: bearer(res.body) });
        assert.equal(me.statusCode, 200);
        assert.equal(me.json().id, user.id);
        assert.ok(me.json().login_ts, 'login_ts is set');
      });

      it('finds the user whatever the case of the email, and takes an empty JSON body or login options', async () => {
        const email = freshEmail('MixedCase');
        await t.services.users.create(t.tenant.id, email, PASSWORD);
        assert.equal((await login(email.toUpperCase(), PASSWORD)).statusCode, 200);
        const empty = await login(email, PASSWORD, {
          headers: { authorization: basic(email, PASSWORD), 'content-type': 'application/json' },
        });
        assert.equal(empty.statusCode, 200, empty.body);
        const forever = await login(email, PASSWORD, { payload: { no_expiry: true } });
        assert.equal(forever.statusCode, 200, forever.body);
        assert.ok(claimsOf(forever.body).exp * 1000 > Date.now() + 50 * 365 * 24 * 3600 * 1000);
        const bad = await login(email, PASSWORD, { payload: { no_expiry: 'maybe' } });
        assert.equal(bad.statusCode, 400);
        const garbled = await login(email, PASSWORD, {
          headers: { authorization: basic(email, PASSWORD), 'content-type': 'application/json' },
          payload: '{not json',
        });
        assert.equal(garbled.statusCode, 400);
      });

      it('answers 401 with the Mender error body for a wrong password, an unknown email or no credentials', async () => {
        const email = freshEmail();
        await t.services.users.create(t.tenant.id, email, PASSWORD);
        for (const res of [
          await login(email, 'wrong-password'),
          await login(freshEmail('nobody'), PASSWORD),
          await t.app.inject({ method: 'POST', url: `${V1}/auth/login` }),
          await t.app.inject({ method: 'POST', url: `${V1}/auth/login`, headers: { authorization: 'Basic !!!' } }),
          await t.app.inject({ method: 'POST', url: `${V1}/auth/login`, headers: { authorization: `Bearer x` } }),
        ]) {
          assert.equal(res.statusCode, 401, res.body);
          const body = res.json();
          assert.equal(typeof body.error, 'string');
          assert.equal(body.request_id, res.headers['x-men-requestid']);
        }
      });

      it('keeps at most ten sessions per user, revoking the oldest', async () => {
        const { email, token: first } = await userWithToken();
        for (let i = 0; i < 10; i++) assert.equal((await login(email, PASSWORD)).statusCode, 200);
        const res = await t.app.inject({ method: 'GET', url: `${V1}/users/me`, headers: bearer(first) });
        assert.equal(res.statusCode, 401);
      });
    });

    describe('tokens at the guard', () => {
      it('refuses a device token on a management route with 403', async () => {
        const token = await t.services.tokens.sign('device', t.tenant.id, randomUUID(), new Date(Date.now() + 60_000));
        const res = await t.app.inject({ method: 'GET', url: `${V1}/users`, headers: bearer(token) });
        assert.equal(res.statusCode, 403);
      });

      it('refuses a forged, an expired, an unknown or a missing user token with 401', async () => {
        const { user, token } = await userWithToken();
        const claims = claimsOf(token);
        const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
        const forged = await new SignJWT({ 'mender.tenant': t.tenant.id, 'mender.user': true, scp: 'mender.*' })
          .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
          .setIssuer(claims.iss)
          .setSubject(user.id)
          .setJti(claims.jti)
          .setIssuedAt()
          .setExpirationTime('1h')
          .sign(privateKey);
        const expired = await t.services.tokens.sign(
          'user',
          t.tenant.id,
          user.id,
          new Date(Date.now() - 1000),
          claims.jti,
        );
        const unknownId = await t.services.tokens.sign('user', t.tenant.id, user.id, new Date(Date.now() + 60_000));
        for (const headers of [bearer(forged), bearer(expired), bearer(unknownId), {}, { authorization: 'Bearer' }]) {
          const res = await t.app.inject({ method: 'GET', url: `${V1}/users`, headers });
          assert.equal(res.statusCode, 401, JSON.stringify(headers));
        }
        assert.equal(
          (await t.app.inject({ method: 'GET', url: `${V1}/users`, headers: bearer(token) })).statusCode,
          200,
        );
      });
    });

    describe('logout', () => {
      it('revokes the calling token and only that one', async () => {
        const { email, token } = await userWithToken();
        const other = (await login(email, PASSWORD)).body;
        const res = await t.app.inject({ method: 'POST', url: `${V1}/auth/logout`, headers: bearer(token) });
        assert.equal(res.statusCode, 202);
        assert.equal(res.body, '');
        const again = await t.app.inject({ method: 'GET', url: `${V1}/users/me`, headers: bearer(token) });
        assert.equal(again.statusCode, 401);
        const still = await t.app.inject({ method: 'GET', url: `${V1}/users/me`, headers: bearer(other) });
        assert.equal(still.statusCode, 200);
        const labelled = await t.app.inject({
          method: 'POST',
          url: `${V1}/auth/logout`,
          headers: { ...bearer(other), 'content-type': 'application/json' },
        });
        assert.equal(labelled.statusCode, 202);
        assert.equal(
          (await t.app.inject({ method: 'POST', url: `${V1}/auth/logout`, headers: bearer(other) })).statusCode,
          401,
        );
      });
    });

    describe('users', () => {
      it('creates a user (201 + Location), shows and lists it', async () => {
        const { token } = await userWithToken();
        const email = freshEmail('New');
        const res = await t.app.inject({
          method: 'POST',
          url: `${V1}/users`,
          headers: bearer(token),
          payload: { email, password: 'mypass1234' },
        });
        assert.equal(res.statusCode, 201, res.body);
        assert.equal(res.body, '');
        const location = String(res.headers.location);
        assert.match(location, new RegExp(`^${V1}/users/[0-9a-f-]{36}$`));
        const shown = await t.app.inject({ method: 'GET', url: location, headers: bearer(token) });
        assert.equal(shown.statusCode, 200);
        const user = shown.json();
        assert.equal(user.email, email.toLowerCase());
        assert.equal(user.id, location.split('/').pop());
        assert.ok(user.created_ts && user.updated_ts);
        assert.equal(user.password, undefined);
        assert.equal(user.password_hash, undefined);
        assert.equal((await login(email, 'mypass1234')).statusCode, 200);
        const list = await t.app.inject({ method: 'GET', url: `${V1}/users`, headers: bearer(token) });
        assert.equal(list.statusCode, 200);
        assert.ok(list.json().some((u: { id: string }) => u.id === user.id));
      });

      it('filters the list by id, email and times', async () => {
        const { user: a, token } = await userWithToken();
        const { user: b } = await userWithToken();
        const get = async (query: string) => {
          const res = await t.app.inject({ method: 'GET', url: `${V1}/users?${query}`, headers: bearer(token) });
          assert.equal(res.statusCode, 200, res.body);
          return (res.json() as { id: string }[]).map((u) => u.id).sort();
        };
        assert.deepEqual(await get(`id=${a.id}`), [a.id]);
        assert.deepEqual(await get(`id=${a.id}&id=${b.id}`), [a.id, b.id].sort());
        assert.deepEqual(await get(`email=${encodeURIComponent(b.email.toUpperCase())}`), [b.id]);
        const created = Math.floor(Date.parse(b.created_ts) / 1000);
        assert.ok((await get(`created_after=${created - 1}&id=${a.id}&id=${b.id}`)).includes(b.id));
        assert.deepEqual(await get(`created_after=${created + 2}&id=${a.id}&id=${b.id}`), []);
        assert.deepEqual(await get(`created_before=${created - 3600}&id=${b.id}`), []);
        assert.deepEqual(await get(`updated_before=${created + 3600}&id=${b.id}`), [b.id]);
        assert.deepEqual(await get(`updated_after=${created + 3600}&id=${b.id}`), []);
        const bad = await t.app.inject({
          method: 'GET',
          url: `${V1}/users?created_after=yesterday`,
          headers: bearer(token),
        });
        assert.equal(bad.statusCode, 400);
      });

      it('refuses duplicate emails in any case and any tenant, short passwords (422) and malformed bodies (400)', async () => {
        const { email, token } = await userWithToken();
        const post = (payload: unknown, headers: Record<string, string> = {}) =>
          t.app.inject({
            method: 'POST',
            url: `${V1}/users`,
            headers: { ...bearer(token), ...headers },
            payload: payload as string,
          });
        const dup = await post({ email: email.toUpperCase(), password: 'another-pass' });
        assert.equal(dup.statusCode, 422, dup.body);
        assert.match(dup.json().error, /already exists/);
        const other = await t.services.tenants.create('dup', `DUP-${randomUUID()}`);
        await assert.rejects(t.services.users.create(other.id, email, 'another-pass'), { status: 409 });
        const short = await post({ email: freshEmail(), password: 'short' });
        assert.equal(short.statusCode, 422);
        assert.equal(short.json().error, 'password: must be minimum 8 characters long');
        const similar = await post({ email: 'longpassword@example.com', password: 'LongPassword' });
        assert.equal(similar.statusCode, 422);
        assert.equal((await post({ email: 'not-an-email', password: 'good-password' })).statusCode, 400);
        assert.equal((await post({ email: freshEmail() })).statusCode, 400);
        assert.equal((await post('{"email":', { 'content-type': 'application/json' })).statusCode, 400);
        const text = await post('email=x', { 'content-type': 'text/plain' });
        assert.equal(text.statusCode, 415);
        assert.equal(text.json().error, "Bad Content-Type, expected 'application/json'");
      });

      it('answers 404 for unknown ids and users of other tenants on show and update', async () => {
        const { token } = await userWithToken();
        const unknown = randomUUID();
        assert.equal(
          (await t.app.inject({ method: 'GET', url: `${V1}/users/${unknown}`, headers: bearer(token) })).statusCode,
          404,
        );
        const put = await t.app.inject({
          method: 'PUT',
          url: `${V1}/users/${unknown}`,
          headers: bearer(token),
          payload: { email: freshEmail() },
        });
        assert.equal(put.statusCode, 404);
        assert.equal(put.json().error, 'user not found');
      });

      it('lets a user change their own password only with the current one, revoking their other tokens', async () => {
        const { email, user, token } = await userWithToken();
        const other = (await login(email, PASSWORD)).body;
        const put = (payload: unknown, url = `${V1}/users/me`) =>
          t.app.inject({ method: 'PUT', url, headers: bearer(token), payload: payload as string });
        assert.equal((await put({})).statusCode, 400);
        assert.equal((await put({ password: 'brand-new-pass' })).statusCode, 422);
        assert.equal((await put({ password: 'brand-new-pass', current_password: 'wrong' })).statusCode, 422);
        assert.equal((await put({ password: 'tiny', current_password: PASSWORD })).statusCode, 422);
        const ok = await put({ password: 'brand-new-pass', current_password: PASSWORD }, `${V1}/users/${user.id}`);
        assert.equal(ok.statusCode, 204, ok.body);
        assert.equal(
          (await t.app.inject({ method: 'GET', url: `${V1}/users/me`, headers: bearer(other) })).statusCode,
          401,
        );
        assert.equal(
          (await t.app.inject({ method: 'GET', url: `${V1}/users/me`, headers: bearer(token) })).statusCode,
          200,
        );
        assert.equal((await login(email, PASSWORD)).statusCode, 401);
        assert.equal((await login(email, 'brand-new-pass')).statusCode, 200);
        // v2: the same through the own-user update.
        const v2 = await t.app.inject({
          method: 'PUT',
          url: `${V2}/users/me`,
          headers: bearer(token),
          payload: { password: 'third-password', current_password: 'brand-new-pass' },
        });
        assert.equal(v2.statusCode, 204, v2.body);
        assert.equal((await login(email, 'third-password')).statusCode, 200);
        const v2bad = await t.app.inject({
          method: 'PUT',
          url: `${V2}/users/me`,
          headers: bearer(token),
          payload: { password: 'fourth-password', current_password: 'nope' },
        });
        assert.equal(v2bad.statusCode, 422);
      });

      it("lets an admin change another user's email but not their password", async () => {
        const { token: admin } = await userWithToken();
        const { user, token: theirs } = await userWithToken();
        const put = (payload: unknown) =>
          t.app.inject({
            method: 'PUT',
            url: `${V1}/users/${user.id}`,
            headers: bearer(admin),
            payload: payload as string,
          });
        const pw = await put({ password: 'other-password' });
        assert.equal(pw.statusCode, 422);
        assert.equal(pw.json().error, 'password cannot be modified');
        const newEmail = freshEmail('Renamed');
        assert.equal((await put({ email: newEmail })).statusCode, 204);
        const shown = await t.app.inject({ method: 'GET', url: `${V1}/users/${user.id}`, headers: bearer(admin) });
        assert.equal(shown.json().email, newEmail.toLowerCase());
        assert.ok(shown.json().updated_ts > user.updated_ts);
        // Mender revokes the user's tokens on any change made by someone else.
        assert.equal(
          (await t.app.inject({ method: 'GET', url: `${V1}/users/me`, headers: bearer(theirs) })).statusCode,
          401,
        );
        const { email: taken } = await userWithToken();
        assert.equal((await put({ email: taken })).statusCode, 422);
      });

      it('deletes a user with their tokens; deleting an unknown id is 204 too', async () => {
        const { token: admin } = await userWithToken();
        const { user, token } = await userWithToken();
        const del = await t.app.inject({ method: 'DELETE', url: `${V1}/users/${user.id}`, headers: bearer(admin) });
        assert.equal(del.statusCode, 204);
        assert.equal(
          (await t.app.inject({ method: 'GET', url: `${V1}/users/${user.id}`, headers: bearer(admin) })).statusCode,
          404,
        );
        assert.equal(
          (await t.app.inject({ method: 'GET', url: `${V1}/users`, headers: bearer(token) })).statusCode,
          401,
        );
        assert.equal((await tokenRows(user.id)).length, 0);
        const again = await t.app.inject({
          method: 'DELETE',
          url: `${V1}/users/${randomUUID()}`,
          headers: bearer(admin),
        });
        assert.equal(again.statusCode, 204);
      });
    });

    describe('settings', () => {
      for (const path of ['/settings', '/settings/me']) {
        it(`${path}: stores a JSON document with an ETag and honours If-Match`, async () => {
          const { token } = await userWithToken((await t.services.tenants.create('settings', `S-${randomUUID()}`)).id);
          const get = () => t.app.inject({ method: 'GET', url: `${V1}${path}`, headers: bearer(token) });
          const post = (payload: unknown, headers: Record<string, string> = {}) =>
            t.app.inject({
              method: 'POST',
              url: `${V1}${path}`,
              headers: { ...bearer(token), ...headers },
              payload: payload as string,
            });
          const empty = await get();
          assert.equal(empty.statusCode, 200);
          assert.deepEqual(empty.json(), {});
          assert.equal(empty.headers.etag, undefined);
          assert.equal((await post({ theme: 'dark', columns: ['name', 'status'] })).statusCode, 201);
          const first = await get();
          assert.deepEqual(first.json(), { theme: 'dark', columns: ['name', 'status'] });
          assert.match(String(first.headers['content-type']), /^application\/json/);
          const etag = String(first.headers.etag);
          assert.ok(etag.length > 0);
          const stale = await post({ theme: 'light' }, { 'if-match': 'not-the-etag' });
          assert.equal(stale.statusCode, 412);
          assert.deepEqual((await get()).json().theme, 'dark');
          assert.equal((await post({ theme: 'light' }, { 'if-match': etag })).statusCode, 201);
          const second = await get();
          assert.deepEqual(second.json(), { theme: 'light' });
          assert.notEqual(second.headers.etag, etag);
          assert.equal((await post({ theme: 'blue' }, { 'if-match': etag })).statusCode, 412);
          assert.equal((await post({ theme: 'blue' })).statusCode, 201);
          assert.equal((await post([1, 2])).statusCode, 400);
          assert.equal((await post('"text"', { 'content-type': 'application/json' })).statusCode, 400);
        });
      }

      it('keeps the tenant document and each user document apart', async () => {
        const tenant = await t.services.tenants.create('split', `SPLIT-${randomUUID()}`);
        const { token: a } = await userWithToken(tenant.id);
        const { token: b } = await userWithToken(tenant.id);
        const post = (token: string, url: string, payload: object) =>
          t.app.inject({ method: 'POST', url: `${V1}${url}`, headers: bearer(token), payload });
        const get = async (token: string, url: string) =>
          (await t.app.inject({ method: 'GET', url: `${V1}${url}`, headers: bearer(token) })).json();
        await post(a, '/settings', { shared: 1 });
        await post(a, '/settings/me', { mine: 'a' });
        assert.deepEqual(await get(b, '/settings'), { shared: 1 });
        assert.deepEqual(await get(b, '/settings/me'), {});
        assert.deepEqual(await get(a, '/settings/me'), { mine: 'a' });
      });

      it('creates a missing document even under If-Match, as Mender does', async () => {
        const tenant = await t.services.tenants.create('fresh', `FRESH-${randomUUID()}`);
        const { token } = await userWithToken(tenant.id);
        const res = await t.app.inject({
          method: 'POST',
          url: `${V1}/settings`,
          headers: { ...bearer(token), 'if-match': randomUUID() },
          payload: { first: true },
        });
        assert.equal(res.statusCode, 201);
        const got = await t.app.inject({ method: 'GET', url: `${V1}/settings`, headers: bearer(token) });
        assert.deepEqual(got.json(), { first: true });
      });
    });

    describe('personal access tokens', () => {
      it('creates, lists without secrets, authenticates, records use and revokes', async () => {
        const { token } = await userWithToken();
        const create = (payload: unknown) =>
          t.app.inject({
            method: 'POST',
            url: `${V1}/settings/tokens`,
            headers: bearer(token),
            payload: payload as string,
          });
        const res = await create({ name: 'ci', expires_in: 3600 });
        assert.equal(res.statusCode, 200, res.body);
        assert.match(String(res.headers['content-type']), /^application\/jwt/);
        const pat = res.body;
        assert.match(pat, /^[\w-]+\.[\w-]+\.[\w-]+$/);
        const forever = await create({ name: 'forever' });
        assert.equal(forever.statusCode, 200);

        const me = await t.app.inject({ method: 'GET', url: `${V1}/users/me`, headers: bearer(pat) });
        assert.equal(me.statusCode, 200);

        const list = await t.app.inject({ method: 'GET', url: `${V1}/settings/tokens`, headers: bearer(token) });
        assert.equal(list.statusCode, 200);
        const tokens = list.json() as Record<string, string>[];
        assert.deepEqual(tokens.map((x) => x.name).sort(), ['ci', 'forever']);
        assert.ok(!list.body.includes(pat), 'the secret is never listed');
        const ci = tokens.find((x) => x.name === 'ci')!;
        assert.equal(ci.id, claimsOf(pat).jti);
        assert.ok(ci.last_used, 'last_used is recorded');
        assert.ok(Math.abs(Date.parse(ci.expiration_date) - (Date.parse(ci.created_ts) + 3600_000)) < 2000);
        const never = tokens.find((x) => x.name === 'forever')!;
        assert.equal(never.expiration_date, undefined);
        assert.equal(never.last_used, undefined);

        const dup = await create({ name: 'ci', expires_in: 60 });
        assert.equal(dup.statusCode, 409);
        assert.equal((await create({ name: 'long', expires_in: 31_536_001 })).statusCode, 400);
        assert.equal((await create({ expires_in: 60 })).statusCode, 400);
        assert.equal((await create({ name: '' })).statusCode, 400);

        const del = await t.app.inject({
          method: 'DELETE',
          url: `${V1}/settings/tokens/${ci.id}`,
          headers: bearer(token),
        });
        assert.equal(del.statusCode, 204);
        assert.equal(
          (await t.app.inject({ method: 'GET', url: `${V1}/users/me`, headers: bearer(pat) })).statusCode,
          401,
        );
        const after = await t.app.inject({ method: 'GET', url: `${V1}/settings/tokens`, headers: bearer(token) });
        assert.deepEqual(
          (after.json() as { name: string }[]).map((x) => x.name),
          ['forever'],
        );
      });

      it('stops at ten tokens per user with 422', async () => {
        const { token } = await userWithToken();
        for (let i = 0; i < 10; i++) {
          const res = await t.app.inject({
            method: 'POST',
            url: `${V1}/settings/tokens`,
            headers: bearer(token),
            payload: { name: `t${i}` },
          });
          assert.equal(res.statusCode, 200);
        }
        const res = await t.app.inject({
          method: 'POST',
          url: `${V1}/settings/tokens`,
          headers: bearer(token),
          payload: { name: 't10' },
        });
        assert.equal(res.statusCode, 422);
      });

      // Issue 18, point 10: a PAT made with a PAT (useradm allows it) never outlives its parent.
      it('ties a PAT made with a PAT to its parent: no later expiry, revoked with it', async () => {
        const { token } = await userWithToken();
        const create = async (with_: string, payload: Record<string, unknown>) => {
          const res = await t.app.inject({
            method: 'POST',
            url: `${V1}/settings/tokens`,
            headers: bearer(with_),
            payload,
          });
          assert.equal(res.statusCode, 200, res.body);
          return res.body;
        };
        const alive = async (jwt: string) =>
          (await t.app.inject({ method: 'GET', url: `${V1}/users/me`, headers: bearer(jwt) })).statusCode;
        const parent = await create(token, { name: 'parent', expires_in: 3600 });
        const child = await create(parent, { name: 'child' }); // asks for "never expires"
        const grandchild = await create(child, { name: 'grandchild', expires_in: 31_536_000 });
        const sibling = await create(token, { name: 'sibling' }); // made with the login session: independent
        for (const jwt of [child, grandchild]) {
          assert.equal(claimsOf(jwt).exp, claimsOf(parent).exp, 'a child expires no later than its parent');
        }
        const listed = (
          await t.app.inject({ method: 'GET', url: `${V1}/settings/tokens`, headers: bearer(token) })
        ).json() as { name: string; expiration_date?: string }[];
        assert.ok(listed.find((x) => x.name === 'child')?.expiration_date, 'the child shows its capped expiry');

        const del = await t.app.inject({
          method: 'DELETE',
          url: `${V1}/settings/tokens/${claimsOf(parent).jti}`,
          headers: bearer(token),
        });
        assert.equal(del.statusCode, 204);
        for (const jwt of [parent, child, grandchild]) assert.equal(await alive(jwt), 401);
        assert.equal(await alive(sibling), 200);
        assert.equal(await alive(token), 200);
        const left = (
          await t.app.inject({ method: 'GET', url: `${V1}/settings/tokens`, headers: bearer(token) })
        ).json() as { name: string }[];
        assert.deepEqual(
          left.map((x) => x.name),
          ['sibling'],
        );
      });
    });

    describe('tenant isolation', () => {
      it("never lets a user of tenant B read or change tenant A's users, settings or tokens", async () => {
        const tenantA = await t.services.tenants.create('A', `A-${randomUUID()}`);
        const tenantB = await t.services.tenants.create('B', `B-${randomUUID()}`);
        const { user: alice, token: a } = await userWithToken(tenantA.id);
        const { user: bob, token: b } = await userWithToken(tenantB.id);
        const patRes = await t.app.inject({
          method: 'POST',
          url: `${V1}/settings/tokens`,
          headers: bearer(a),
          payload: { name: 'a-pat' },
        });
        const alicePat = patRes.body;
        await t.app.inject({ method: 'POST', url: `${V1}/settings`, headers: bearer(a), payload: { secret: 'A' } });
        const call = (method: 'GET' | 'PUT' | 'DELETE' | 'POST', url: string, payload?: object) =>
          t.app.inject({ method, url: `${V1}${url}`, headers: bearer(b), ...(payload ? { payload } : {}) });

        const list = await call('GET', '/users');
        assert.deepEqual(
          (list.json() as { id: string }[]).map((u) => u.id),
          [bob.id],
        );
        assert.deepEqual((await call('GET', `/users?id=${alice.id}`)).json(), []);
        assert.equal((await call('GET', `/users/${alice.id}`)).statusCode, 404);
        assert.equal((await call('PUT', `/users/${alice.id}`, { email: freshEmail() })).statusCode, 404);
        assert.equal((await call('DELETE', `/users/${alice.id}`)).statusCode, 204);
        assert.deepEqual((await call('GET', '/settings')).json(), {});
        assert.equal((await call('POST', '/settings', { secret: 'B' })).statusCode, 201);
        assert.deepEqual((await call('GET', '/settings/tokens')).json(), []);
        assert.equal((await call('DELETE', `/settings/tokens/${claimsOf(alicePat).jti}`)).statusCode, 204);

        // Tenant A is untouched.
        const aliceNow = await t.app.inject({ method: 'GET', url: `${V1}/users/${alice.id}`, headers: bearer(a) });
        assert.equal(aliceNow.statusCode, 200);
        assert.equal(aliceNow.json().email, alice.email);
        const settings = await t.app.inject({ method: 'GET', url: `${V1}/settings`, headers: bearer(a) });
        assert.deepEqual(settings.json(), { secret: 'A' });
        assert.equal(
          (await t.app.inject({ method: 'GET', url: `${V1}/users/me`, headers: bearer(alicePat) })).statusCode,
          200,
        );
        // A token's tenant is the one it was signed for: B's user id under A's tenant is no one.
        const crossed = await t.services.tokens.sign(
          'user',
          tenantA.id,
          bob.id,
          new Date(Date.now() + 60_000),
          claimsOf(b).jti,
        );
        assert.equal(
          (await t.app.inject({ method: 'GET', url: `${V1}/users`, headers: bearer(crossed) })).statusCode,
          401,
        );
      });
    });
  });

  describe(`useradm login rate limit (${dialect})`, () => {
    let t: TestApp;
    before(async () => {
      t = await testApp(dialect, { rateLimit: { max: 2, windowMs: 60_000 } });
    });
    after(() => t.close());

    it('answers 429 with Retry-After past the limit, per client address', async () => {
      const email = freshEmail();
      await t.services.users.create(t.tenant.id, email, PASSWORD);
      const attempt = (remoteAddress: string, password = PASSWORD) =>
        t.app.inject({
          method: 'POST',
          url: `${V1}/auth/login`,
          headers: { authorization: basic(email, password) },
          remoteAddress,
        });
      assert.equal((await attempt('10.0.0.1', 'wrong-password')).statusCode, 401);
      assert.equal((await attempt('10.0.0.1')).statusCode, 200);
      const limited = await attempt('10.0.0.1');
      assert.equal(limited.statusCode, 429);
      const retryAfter = Number(limited.headers['retry-after']);
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${limited.headers['retry-after']}`);
      assert.equal(typeof limited.json().error, 'string');
      assert.equal((await attempt('10.0.0.2')).statusCode, 200);
    });
  });
}
