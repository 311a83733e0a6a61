// The command line: `flotilla serve | migrate | user create | tenant | artifact-keys | simulate`.
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { simulate } from './agent/cli.js';
import { buildApp, prepareStore } from './app.js';
import { loadConfig, parseFlags } from './config.js';
import { closeOnSignals } from './ops/shutdown.js';
import { TENANT_USAGE, tenantCommand, tenantOf } from './tenants/cli.js';

const USAGE = `usage:
  flotilla serve [--port N] [--data DIR]        start the server (env FLOTILLA_PORT, FLOTILLA_DATA, FLOTILLA_DATABASE_URL)
        [--mqtt-port N|off] [--mqtt-url URL]   Kanto: embedded MQTT broker port (default 1883, env FLOTILLA_MQTT_PORT)
                                                or an external broker (env FLOTILLA_MQTT_URL=mqtt://host:port)
        [--host A] [--mqtt-host A]             listen addresses: HTTP (default 0.0.0.0, env FLOTILLA_HOST), embedded
                                                broker (default 127.0.0.1, env FLOTILLA_MQTT_HOST)
        [--mqtt-tls-port N|off --mqtt-tls-cert PEM --mqtt-tls-key PEM]
                                                Kanto: MQTT over TLS on the embedded broker (default off; env
                                                FLOTILLA_MQTT_TLS_PORT, FLOTILLA_MQTT_TLS_CERT, FLOTILLA_MQTT_TLS_KEY)
        [--public-url URL] [--trust-proxy LIST]  the URL every link starts with (env FLOTILLA_PUBLIC_URL), and the
                                                proxies whose X-Forwarded-* count (env FLOTILLA_TRUST_PROXY, default loopback)
  flotilla migrate [--data DIR]                 apply database migrations and exit
  flotilla user create --email E --password P [--tenant NAME|ID] [--roles R1,R2]
                                                create a user in the default tenant (or the one named; default role: admin)
${TENANT_USAGE}  flotilla artifact-keys add FILE | list | clear [--tenant NAME|ID]
                                                public keys (PEM) that uploaded artifacts must be signed with
  flotilla simulate --devices N --email E --password P [--server URL (http://127.0.0.1:8080)]
        [--protocol mender|ddi|kanto|mixed] [--poll-interval S] [--failure-ratio R] [--concurrency N]
        [--deploy ARTIFACT|none] [--keep] [--mqtt-url URL] [--tenant-token T] [--ddi-tenant NAME] [--timeout S]
        [--kanto-topics hono|generic] [--phases N] [--phase-interval S] [--retries N]
                                                a simulated fleet in a group of its own, updated with an artifact
                                                it makes (or ARTIFACT), decommissioned afterwards unless --keep;
                                                summary as JSON, exit 1 unless every device did as told
`;

export async function main(argv: string[]): Promise<void> {
  const { flags, rest } = parseFlags(argv);
  const [command, sub] = rest;
  try {
    if (command === 'serve') return await serve(flags);
    if (command === 'migrate') return await runMigrate(flags);
    if (command === 'user' && sub === 'create') return await createUser(flags);
    if (command === 'tenant' && sub) return await tenantCommand(sub, rest.slice(2), flags);
    if (command === 'artifact-keys' && sub) return await artifactKeys(sub, rest[2], flags);
    if (command === 'simulate') return await simulate(flags);
    process.stdout.write(USAGE);
    process.exitCode = command && command !== 'help' && flags.help !== 'true' ? 2 : 0;
  } catch (error) {
    process.stderr.write(`flotilla: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}

async function serve(flags: Record<string, string>): Promise<void> {
  const config = loadConfig(flags);
  if (config.logFormat === 'auto') config.logFormat = process.stdout.isTTY ? 'pretty' : 'json';
  const app = await buildApp(config);
  const tenant = await app.services.tenants.getDefault();
  await app.listen({ port: config.port, host: config.host });
  app.log.info({ data: config.dataDir, tenant_token: tenant.tenant_token }, 'Flotilla is serving');
  closeOnSignals(app, { timeoutSeconds: config.shutdownTimeout });
}

async function runMigrate(flags: Record<string, string>): Promise<void> {
  const { store } = await prepareStore(loadConfig(flags));
  await store.close();
  process.stdout.write('migrations applied\n');
}

async function createUser(flags: Record<string, string>): Promise<void> {
  if (!flags.email || !flags.password) throw new Error('user create needs --email and --password');
  const { store, services } = await prepareStore(loadConfig(flags));
  try {
    const tenant = await tenantOf(services, flags.tenant);
    const roles = flags.roles === undefined ? undefined : flags.roles.split(',').filter(Boolean);
    const user = await services.users.create(tenant.id, flags.email, flags.password, undefined, roles);
    process.stdout.write(`${JSON.stringify(user)}\n`);
  } finally {
    await store.close();
  }
}

async function artifactKeys(action: string, file: string | undefined, flags: Record<string, string>): Promise<void> {
  const { store, services } = await prepareStore(loadConfig(flags));
  try {
    const tenant = await tenantOf(services, flags.tenant);
    const keys = services.tenants.artifactKeys(tenant);
    if (action === 'add') {
      if (!file) throw new Error('artifact-keys add needs the path of a PEM public key');
      const pem = createPublicKey(readFileSync(file)).export({ type: 'spki', format: 'pem' }).toString();
      if (!keys.includes(pem)) keys.push(pem);
      await services.tenants.setArtifactKeys(tenant.id, keys);
    } else if (action === 'clear') {
      await services.tenants.setArtifactKeys(tenant.id, []);
    } else if (action !== 'list') {
      throw new Error(`unknown action ${action}: use add, list or clear`);
    }
    const now = action === 'clear' ? [] : keys;
    process.stdout.write(now.length ? `${now.join('')}` : 'no keys: signatures are recorded, not required\n');
  } finally {
    await store.close();
  }
}
