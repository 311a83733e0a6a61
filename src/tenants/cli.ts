// `flotilla tenant create | list | show | set-limits`: the operator's tenant commands on the command line, on the
// same rules as the operator API (./operator.ts). Each prints JSON; a running server learns of changes through the
// revocation feed (within its 2 s bound), as for every tenant change.
import { prepareStore } from '../app.js';
import { loadConfig } from '../config.js';
import { Invalid } from '../errors.js';
import type { Services } from '../services.js';
import { type Limits, TenantOperator } from './operator.js';
import type { Tenant } from './service.js';

export const TENANT_USAGE = `  flotilla tenant create NAME [--max-devices N] [--storage-limit BYTES] [--admin-email E --admin-password P]
  flotilla tenant list | show NAME|ID | set-limits NAME|ID [--max-devices N] [--storage-limit BYTES]
                                                tenants (0: no limit); each has its own Mender tenant token, hawkBit
                                                tenant name and users; server-wide, logged, not in a tenant's audit log
`;

export async function tenantCommand(
  action: string,
  args: string[],
  flags: Record<string, string>,
  out: { write(text: string): unknown } = process.stdout,
): Promise<void> {
  const { store, services } = await prepareStore(loadConfig(flags));
  try {
    const operator = new TenantOperator(services);
    const answer = await run(operator, action, args, flags);
    out.write(`${JSON.stringify(answer, null, 2)}\n`);
  } finally {
    await store.close();
  }
}

function run(operator: TenantOperator, action: string, [name]: string[], flags: Record<string, string>) {
  if (action === 'list') return operator.list();
  if (!name) throw new Invalid(`tenant ${action} needs a tenant name${action === 'create' ? '' : ' or id'}`);
  if (action === 'create') {
    return operator.create({
      name,
      ...limitsOf(flags),
      adminEmail: flags['admin-email'],
      adminPassword: flags['admin-password'],
    });
  }
  if (action === 'show') return operator.show(name);
  if (action === 'set-limits') {
    const limits = limitsOf(flags);
    if (limits.maxDevices === undefined && limits.storageLimit === undefined) {
      throw new Invalid('tenant set-limits needs --max-devices N and/or --storage-limit BYTES');
    }
    return operator.setLimits(name, limits);
  }
  throw new Invalid(`unknown action ${action}: use create, list, show or set-limits`);
}

function limitsOf(flags: Record<string, string>): Limits {
  return { maxDevices: countOf(flags, 'max-devices'), storageLimit: countOf(flags, 'storage-limit') };
}

function countOf(flags: Record<string, string>, name: string): number | undefined {
  const value = flags[name];
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new Invalid(`--${name}: a whole number, 0 or more (0: no limit)`);
  return Number(value);
}

/** The tenant a command acts on: `--tenant NAME|ID`, or the default tenant. */
export async function tenantOf(services: Services, flag: string | undefined): Promise<Tenant> {
  return flag ? new TenantOperator(services).find(flag) : services.tenants.getDefault();
}
