// Device admission (Mender's deviceauth): auth sets, their status, and device tokens.

import type { InventoryService } from '../inventory/service.js';
import type { CoreDeps } from '../services.js';
import { now } from '../store/db.js';

export class DeviceService {
  constructor(
    private readonly deps: CoreDeps,
    private readonly inventory: InventoryService,
  ) {}

  /** For the auth guard: the device behind a live (not revoked, not expired) token id. */
  async tokenAlive(tenantId: string, tokenId: string): Promise<{ deviceId: string } | undefined> {
    const row = await this.deps.store.db
      .selectFrom('device_tokens')
      .select(['device_id', 'expires_ts'])
      .where('tenant_id', '=', tenantId)
      .where('id', '=', tokenId)
      .executeTakeFirst();
    if (!row || row.expires_ts <= now()) return undefined;
    return { deviceId: row.device_id };
  }
}
