// The revocation feed: how a process learns that something it holds in memory (a live token, a tenant row) was
// revoked or changed by any process sharing the database. A write that deletes tokens (or changes a tenant) adds
// rows to `revocations` in its own transaction, as its last statement; every process polls for rows past the last
// id it applied every POLL_MS and drops what they name from its caches. Rows older than RETENTION_MS are pruned.
//
// The bound: a cache answers from memory only while the feed is `fresh()`, that is while a poll that *started* at
// most STALE_AFTER_MS (2 s) ago has completed. Every poll that starts after a revocation commits sees its row, so a
// revoked token stops working on every process at most STALE_AFTER_MS after the revoking transaction commits, and
// on the revoking process at once (`transaction` drops local entries right after its commit). When polling stalls
// (database down, event loop blocked), caches stop answering and requests read the database again.
//
// Table polling rather than LISTEN/NOTIFY: the same code on SQLite and PostgreSQL, no connection held outside the
// pool, and a process that was away catches up from the table. The cost is one indexed select per POLL_MS.
// PostgreSQL assigns serial ids at insert but commits in any order, so a poll could see id 7 before 6 commits and
// skip 6 for ever; writers take a transaction-scoped advisory lock before inserting, so ids become visible in
// order. SQLite commits one writer at a time anyway.
import { type Generated, sql, type Transaction } from 'kysely';
import type { Store } from '../store/db.js';
import type { Tables } from '../store/schema.js';

/**
 * What a row revokes: one token (`device-token`, `user-token`), every token of a device or user (`device`, `user`),
 * or the cached copy of a tenant row (`tenant`, which also voids cached "no such tenant" answers).
 */
export type RevocationKind = 'device-token' | 'device' | 'user-token' | 'user' | 'tenant';

export interface Revocation {
  kind: RevocationKind;
  tenantId: string;
  /** Token id, device id, user id or tenant id, by kind. */
  id: string;
}

/** Collects the revocations of one transaction (see `RevocationFeed.transaction`). */
export type Revoke = (revocation: Revocation) => void;

export interface RevocationTable {
  id: Generated<number>;
  kind: RevocationKind;
  tenant_id: string;
  subject_id: string;
  ts: string;
}

declare module '../store/schema.js' {
  interface Tables {
    revocations: RevocationTable;
  }
}

/** How often each process reads new revocation rows. */
export const POLL_MS = 500;
/** How old the last completed poll may be (from its start) for caches to answer: the cross-process bound. */
export const STALE_AFTER_MS = 2_000;
/** Rows live this long; a process that polled less recently than half of it forgets every cached entry. */
export const RETENTION_MS = 10 * 60_000;
const PRUNE_EVERY_MS = 60_000;
const PAGE = 1000;
/** pg_advisory_xact_lock key that orders revocation inserts ('FLRV'). */
const ADVISORY_KEY = 0x464c5256;

/** Called with what was revoked, or with `null` when everything cached must go (the feed may have missed rows). */
export type RevocationListener = (batch: readonly Revocation[] | null) => void;

export class RevocationFeed {
  private readonly listeners: RevocationListener[] = [];
  /** Highest row id applied. */
  private last = 0;
  /** Start time of the last completed poll; -Infinity while the feed is not running. */
  private freshSince = Number.NEGATIVE_INFINITY;
  private lastPrune = 0;
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  private drops = 0;

  constructor(
    private readonly store: Store,
    private readonly clock: () => number = Date.now,
  ) {}

  subscribe(listener: RevocationListener): void {
    this.listeners.push(listener);
  }

  /**
   * Moves on whenever anything is dropped. A cache reads it before going to the database and keeps what it read
   * only if it has not moved since: a read that raced a revocation may have seen the token still alive.
   */
  get generation(): number {
    return this.drops;
  }

  /** Whether caches may answer: a poll that started at most STALE_AFTER_MS ago has completed. */
  fresh(now = this.clock()): boolean {
    return now - this.freshSince <= STALE_AFTER_MS;
  }

  /**
   * Runs `work` in one transaction; what it reports through `revoke` is written to the feed as the transaction's
   * last statements and dropped from this process's caches as soon as the transaction commits.
   */
  async transaction<T>(work: (trx: Transaction<Tables>, revoke: Revoke) => Promise<T>): Promise<T> {
    const revoked: Revocation[] = [];
    const result = await this.store.transaction(async (trx) => {
      const value = await work(trx, (revocation) => revoked.push(revocation));
      await this.record(trx, revoked);
      return value;
    });
    this.drop(revoked);
    return result;
  }

  private async record(trx: Transaction<Tables>, revoked: Revocation[]): Promise<void> {
    if (revoked.length === 0) return;
    if (this.store.dialect === 'postgres') await sql`select pg_advisory_xact_lock(${ADVISORY_KEY})`.execute(trx);
    const ts = new Date(this.clock()).toISOString();
    for (let i = 0; i < revoked.length; i += PAGE) {
      await trx
        .insertInto('revocations')
        .values(revoked.slice(i, i + PAGE).map((r) => ({ kind: r.kind, tenant_id: r.tenantId, subject_id: r.id, ts })))
        .execute();
    }
  }

  private drop(batch: readonly Revocation[] | null): void {
    if (batch?.length === 0) return;
    this.drops++;
    for (const listener of this.listeners) listener(batch);
  }

  /** Starts polling from the newest row (caches start empty, so older rows do not matter). */
  async start(): Promise<void> {
    if (this.timer) return;
    const started = this.clock();
    const row = await this.store.db
      .selectFrom('revocations')
      .select((eb) => eb.fn.max('id').as('last'))
      .executeTakeFirst();
    this.last = Number(row?.last ?? 0);
    // Anything cached before a restart may have been revoked while no one listened.
    this.drop(null);
    this.freshSince = started;
    this.lastPrune = started;
    this.timer = setInterval(() => {
      this.poll().catch(() => undefined);
    }, POLL_MS);
    this.timer.unref();
  }

  /** Stops polling; caches stop answering from memory. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.polling?.catch(() => undefined);
    this.freshSince = Number.NEGATIVE_INFINITY;
  }

  /** Applies the rows written since the last poll. A call while a poll runs waits for that poll. */
  poll(): Promise<void> {
    this.polling ??= this.pollOnce().finally(() => {
      this.polling = undefined;
    });
    return this.polling;
  }

  private async pollOnce(): Promise<void> {
    const started = this.clock();
    // Rows written while we were away may have been pruned since: forget everything rather than miss them.
    if (started - this.freshSince > RETENTION_MS / 2) this.drop(null);
    for (;;) {
      const rows = await this.store.db
        .selectFrom('revocations')
        .select(['id', 'kind', 'tenant_id', 'subject_id'])
        .where('id', '>', this.last)
        .orderBy('id')
        .limit(PAGE)
        .execute();
      if (rows.length > 0) {
        this.last = Number(rows[rows.length - 1].id);
        this.drop(rows.map((r) => ({ kind: r.kind, tenantId: r.tenant_id, id: r.subject_id })));
      }
      if (rows.length < PAGE) break;
    }
    if (this.timer) this.freshSince = started;
    if (started - this.lastPrune >= PRUNE_EVERY_MS) {
      this.lastPrune = started;
      const cutoff = new Date(started - RETENTION_MS).toISOString();
      await this.store.db.deleteFrom('revocations').where('ts', '<', cutoff).execute();
    }
  }
}
