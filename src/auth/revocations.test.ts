// The revocation feed and the liveness cache on a clock the test moves: when caches may answer, what a revocation
// drops and where, and that a read racing a revocation is not kept.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openStore, type Store } from '../store/db.js';
import { migrate } from '../store/migrate.js';
import { LivenessCache } from './liveness.js';
import { RETENTION_MS, RevocationFeed, STALE_AFTER_MS } from './revocations.js';

describe('revocation feed', () => {
  let store: Store;
  let clock = Date.parse('2030-01-01T00:00:00Z');
  const now = () => clock;
  const feeds: RevocationFeed[] = [];
  /** A feed and a device-token cache, as one server process has them. */
  const serverProcess = async (max?: number) => {
    const feed = new RevocationFeed(store, now);
    feeds.push(feed);
    const cache = new LivenessCache<string>(feed, { token: 'device-token', owner: 'device' }, max);
    await feed.start();
    return { feed, cache };
  };
  const far = () => clock + 3600_000;

  before(async () => {
    store = await openStore({ databaseUrl: 'sqlite::memory:', dataDir: '' });
    await migrate(store.db);
  });
  after(async () => {
    for (const feed of feeds) await feed.stop();
    await store.close();
  });

  it('lets caches answer only while a poll that started at most STALE_AFTER_MS ago has completed', async () => {
    const { feed, cache } = await serverProcess();
    cache.set(cache.generation(), 't', 'tok', 'dev', far(), 'dev');
    assert.equal(cache.get('t', 'tok', clock), 'dev');
    clock += STALE_AFTER_MS + 1;
    assert.equal(feed.fresh(), false);
    assert.equal(cache.get('t', 'tok', clock), undefined, 'polling stalled: the cache does not answer');
    await feed.poll();
    assert.equal(cache.get('t', 'tok', clock), 'dev', 'a completed poll makes it answer again');
    await feed.stop();
    assert.equal(cache.get('t', 'tok', clock), undefined, 'a stopped feed never lets it answer');
  });

  it('drops a revoked token on the revoking process at commit, and on another at its next poll', async () => {
    const a = await serverProcess();
    const b = await serverProcess();
    for (const { cache } of [a, b]) {
      cache.set(cache.generation(), 't', 'tok-1', 'dev-1', far(), 'dev-1');
      cache.set(cache.generation(), 't', 'tok-2', 'dev-1', far(), 'dev-1');
      cache.set(cache.generation(), 't', 'tok-3', 'dev-2', far(), 'dev-2');
    }
    await a.feed.transaction(async (_trx, revoke) => revoke({ kind: 'device-token', tenantId: 't', id: 'tok-1' }));
    assert.equal(a.cache.get('t', 'tok-1', clock), undefined, 'gone here at once');
    assert.equal(b.cache.get('t', 'tok-1', clock), 'dev-1', 'still there before the other process polls');
    await b.feed.poll();
    assert.equal(b.cache.get('t', 'tok-1', clock), undefined);
    assert.equal(b.cache.get('t', 'tok-2', clock), 'dev-1', "the device's other token lives on");

    await a.feed.transaction(async (_trx, revoke) => revoke({ kind: 'device', tenantId: 't', id: 'dev-1' }));
    await b.feed.poll();
    for (const { cache } of [a, b]) {
      assert.equal(cache.get('t', 'tok-2', clock), undefined, 'revoking the device drops all its tokens');
      assert.equal(cache.get('t', 'tok-3', clock), 'dev-2', 'and nobody else');
    }
  });

  it('does not keep a read that raced a revocation', async () => {
    const a = await serverProcess();
    const generation = a.cache.generation();
    // ... the database says the token is alive, then a revocation of anything commits before the answer is kept.
    await a.feed.transaction(async (_trx, revoke) => revoke({ kind: 'device', tenantId: 't', id: 'someone' }));
    a.cache.set(generation, 't', 'raced', 'dev', far(), 'dev');
    assert.equal(a.cache.get('t', 'raced', clock), undefined);
  });

  it('rolls back with its transaction: a failed write revokes nothing', async () => {
    const a = await serverProcess();
    const b = await serverProcess();
    b.cache.set(b.cache.generation(), 't', 'kept', 'dev-9', far(), 'dev-9');
    await assert.rejects(
      a.feed.transaction(async (_trx, revoke) => {
        revoke({ kind: 'device', tenantId: 't', id: 'dev-9' });
        throw new Error('no');
      }),
    );
    await b.feed.poll();
    assert.equal(b.cache.get('t', 'kept', clock), 'dev-9');
  });

  it("forgets entries at the token's expiry, and the oldest entries when full", async () => {
    const { cache } = await serverProcess(2);
    cache.set(cache.generation(), 't', 'short', 'd', clock + 1000, 'd');
    clock += 1000;
    assert.equal(cache.get('t', 'short', clock), undefined);
    cache.set(cache.generation(), 't', 'x1', 'd', far(), 'd');
    cache.set(cache.generation(), 't', 'x2', 'd', far(), 'd');
    cache.set(cache.generation(), 't', 'x3', 'd', far(), 'd');
    assert.equal(cache.size, 2);
    assert.equal(cache.get('t', 'x1', clock), undefined);
    assert.equal(cache.get('t', 'x3', clock), 'd');
  });

  it('prunes old rows, and a process away for longer than that forgets everything', async () => {
    const a = await serverProcess();
    const b = await serverProcess();
    b.cache.set(b.cache.generation(), 't', 'old', 'dev-old', far() + RETENTION_MS, 'dev-old');
    await a.feed.transaction(async (_trx, revoke) => revoke({ kind: 'device-token', tenantId: 't', id: 'other' }));
    clock += RETENTION_MS + 60_000;
    await a.feed.poll();
    const left = await store.db.selectFrom('revocations').select('subject_id').execute();
    assert.ok(!left.some((r) => r.subject_id === 'other'), 'the old row is pruned');
    await b.feed.poll();
    assert.equal(b.cache.get('t', 'old', clock), undefined, 'b may have missed pruned rows: it starts over');
  });
});
