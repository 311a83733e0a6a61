// Which devices a deployment reaches: listed ids that exist, accepted devices of a group or of all, and how many
// accepted devices match a saved filter. Resolved in SQL through the inventory's device search.
import type { Term } from '../inventory/predicates.js';
import { DeviceSearch } from '../inventory/search.js';
import type { Store } from '../store/db.js';

const acceptedTerm: Term = {
  scope: 'identity',
  name: 'status',
  condition: { kind: 'eq', negate: false, value: 'accepted' },
};

export function groupTerm(group: string): Term {
  return { scope: 'system', name: 'group', condition: { kind: 'eq', negate: false, value: group } };
}

export class DeploymentTargets {
  constructor(private readonly store: Store) {}

  private search(tenantId: string): DeviceSearch {
    return new DeviceSearch(this.store.db, this.store.dialect, tenantId);
  }

  /** The listed ids that are devices of the tenant, in the order given. */
  async existing(tenantId: string, ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const found = new Set<string>();
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await this.store.db
        .selectFrom('devices')
        .select('id')
        .where('tenant_id', '=', tenantId)
        .where('id', 'in', ids.slice(i, i + 500))
        .execute();
      for (const r of rows) found.add(r.id);
    }
    return ids.filter((id) => found.has(id));
  }

  /** Accepted devices matching the terms (none: all accepted devices). */
  async accepted(tenantId: string, terms: Term[]): Promise<string[]> {
    const { devices } = await this.search(tenantId).run({
      terms: [...terms, acceptedTerm],
      sort: [],
      offset: 0,
      limit: Number.MAX_SAFE_INTEGER,
    });
    return devices.map((d) => d.id);
  }

  /** How many accepted devices (of `deviceIds`, when given) match the terms. */
  async countMatching(tenantId: string, terms: Term[], deviceIds?: string[]): Promise<number> {
    const { total } = await this.search(tenantId).run({
      terms: [...terms, acceptedTerm],
      sort: [],
      deviceIds,
      offset: 0,
      limit: 1,
    });
    return total;
  }
}
