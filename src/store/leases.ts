// Leases in the database: background work (phase starts, expiry, cleanup) runs on whichever server process holds
// the job's lease, so that two processes sharing one database never do the same job at once. A lease lapses on its
// own when its holder dies; the holder renews it while it works.
import type { Kysely, Migration } from 'kysely';
import type { Store } from './db.js';

export interface LeaseTable {
  name: string;
  holder: string;
  expires_ts: string;
}

declare module './schema.js' {
  interface Tables {
    leases: LeaseTable;
  }
}

export const leaseMigrations: Record<string, Migration> = {
  '0002_leases': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('leases')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('holder', 'text', (c) => c.notNull())
        .addColumn('expires_ts', 'text', (c) => c.notNull())
        .execute();
    },
  },
};

export class Leases {
  constructor(
    private readonly store: Store,
    /** Who this process is; unique per process. */
    readonly holder: string,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /**
   * Takes or renews the lease `name` for `ttlMs` if it is free, lapsed, or already ours. One atomic statement,
   * so two processes racing for it cannot both win.
   */
  async acquire(name: string, ttlMs: number): Promise<boolean> {
    const at = this.clock();
    const nowTs = at.toISOString();
    const expires = new Date(at.getTime() + ttlMs).toISOString();
    await this.store.db
      .insertInto('leases')
      .values({ name, holder: this.holder, expires_ts: expires })
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet({ holder: this.holder, expires_ts: expires })
          .where((eb) => eb.or([eb('leases.expires_ts', '<=', nowTs), eb('leases.holder', '=', this.holder)])),
      )
      .execute();
    const row = await this.store.db.selectFrom('leases').select('holder').where('name', '=', name).executeTakeFirst();
    return row?.holder === this.holder;
  }

  /** Gives the lease up early (e.g. at shutdown), if we hold it. */
  async release(name: string): Promise<void> {
    await this.store.db.deleteFrom('leases').where('name', '=', name).where('holder', '=', this.holder).execute();
  }

  /** Runs `work` only if this process gets the lease; answers whether it ran. */
  async runExclusive(name: string, ttlMs: number, work: () => Promise<void>): Promise<boolean> {
    if (!(await this.acquire(name, ttlMs))) return false;
    await work();
    return true;
  }
}
