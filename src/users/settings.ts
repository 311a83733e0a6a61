// Settings documents of useradm: a free-form JSON object per tenant (`settings`) and per user (`settings/me`),
// each with an ETag that changes on every write; a write with If-Match only lands on the matching version.
import { randomUUID } from 'node:crypto';
import { type AuditActor, recordAudit } from '../audit/service.js';
import type { CoreDeps } from '../core.js';
import { DomainError } from '../errors.js';
import { now } from '../store/db.js';
import { checkSettings } from './rules.js';
import { SettingsStore } from './settings-store.js';

/** 412: the If-Match ETag is not the document's current one. */
export class PreconditionFailed extends DomainError {
  constructor() {
    super("ETag doesn't match", 412);
  }
}

export interface Settings {
  /** Absent until the document was first written. */
  etag?: string;
  /** The JSON object as text. */
  document: string;
}

/** Whose document: the tenant's, or one user's. */
export interface SettingsOwner {
  tenantId: string;
  userId?: string;
}

export class SettingsService {
  constructor(private readonly deps: CoreDeps) {}

  async get(owner: SettingsOwner): Promise<Settings> {
    const stored = await new SettingsStore(this.deps.store.db, owner.tenantId).read(owner.userId);
    return stored ?? { document: '{}' };
  }

  /** Replaces the document; returns the new ETag. */
  async save(owner: SettingsOwner, document: unknown, ifMatch?: string, actor?: AuditActor): Promise<string> {
    checkSettings(document);
    const etag = randomUUID();
    await this.deps.store.transaction(async (trx) => {
      const written = await new SettingsStore(trx, owner.tenantId).write(
        { etag, document: JSON.stringify(document), updated_ts: now() },
        owner.userId,
        ifMatch,
      );
      if (!written) throw new PreconditionFailed();
      if (actor) {
        // The tenant's document, or a user's own.
        const object = owner.userId
          ? { type: 'user' as const, id: owner.userId }
          : { type: 'tenant' as const, id: owner.tenantId };
        await recordAudit(trx, owner.tenantId, { actor, action: 'update', object, change: 'settings' });
      }
    });
    return etag;
  }
}
