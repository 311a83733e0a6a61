// Inventory rules: which scopes devices and operators may write, and how attributes are validated.

import type { Transaction } from 'kysely';
import type { CoreDeps } from '../services.js';
import { now } from '../store/db.js';
import type { Tables } from '../store/schema.js';
import { type Attribute, AttributeStore } from './store.js';
import type { AttributeScope } from './tables.js';

export class InventoryService {
  constructor(private readonly deps: CoreDeps) {}

  attributes(tenantId: string, trx?: Transaction<Tables>): AttributeStore {
    return new AttributeStore(trx ?? this.deps.store.db, tenantId);
  }

  /** Writes attributes of one scope for a device, inside `trx` when given. */
  async setAttributes(
    tenantId: string,
    deviceId: string,
    scope: AttributeScope,
    attributes: Omit<Attribute, 'scope'>[],
    mode: 'merge' | 'replace',
    trx?: Transaction<Tables>,
  ): Promise<void> {
    const ts = now();
    if (trx) return this.attributes(tenantId, trx).write(deviceId, scope, attributes, mode, ts);
    await this.deps.store.transaction((t) => this.attributes(tenantId, t).write(deviceId, scope, attributes, mode, ts));
  }
}
