// One place for configuration: defaults < environment < flags. Nothing else reads process.env.
import { resolve } from 'node:path';

export interface Config {
  /** TCP port of the HTTP server; 0 picks a free one. */
  port: number;
  host: string;
  /** Data directory: SQLite database and blob folder live here on the embedded default. */
  dataDir: string;
  /** `postgres://...` selects PostgreSQL; empty selects SQLite in the data directory. */
  databaseUrl: string;
  /** Name of the tenant that exists from the first start. */
  defaultTenantName: string;
  /** Tenant token of the default tenant; generated at first start when empty. */
  defaultTenantToken: string;
  /** First admin, created at start when both are set and no such user exists. */
  adminEmail: string;
  adminPassword: string;
  /** Lifetime of a user's login JWT and of a device JWT, in seconds. */
  userTokenTtl: number;
  deviceTokenTtl: number;
  /** Largest JSON body accepted, in bytes. */
  maxJsonBody: number;
  /** Largest artifact upload accepted, in bytes. */
  maxArtifactSize: number;
  /** Lifetime of a signed download link handed to a device or an operator, in seconds. */
  downloadLinkTtl: number;
  /**
   * Seconds a device may stay in downloading / installing / rebooting without a status report before the server
   * ends that attempt as a failure (retries still apply); 0 keeps waiting for ever (Mender's behaviour).
   */
  deploymentTimeout: number;
  /** Seconds between runs of the background deployment work (under a database lease); 0 runs none. */
  sweepInterval: number;
  /** Requests per window per client address on the login and device-auth routes. */
  rateLimit: { max: number; windowMs: number };
  logLevel: string;
  /** Port of the embedded MQTT broker for Kanto devices (0 picks a free one); 'off' runs none. */
  mqttPort: number | 'off';
  /** `mqtt://user:pass@host:port` of an external broker (Mosquitto, Hono); when set, no embedded broker runs. */
  mqttUrl: string;
  /** Kanto commands: seconds to wait for the device's answer, attempts before the device deployment fails. */
  kantoCommandTimeout: number;
  kantoCommandAttempts: number;
  /** Seconds between looks for Kanto devices with a deployment due. */
  kantoPushInterval: number;
  /** Seconds between the server's pings on a device connect socket; a socket silent for one interval is closed. */
  deviceconnectPingInterval: number;
  /** Seconds a server-held device connect session (REST file transfer) waits for the device: 408 after that. */
  deviceconnectTimeout: number;
}

export function defaultConfig(): Config {
  return {
    port: 8080,
    host: '0.0.0.0',
    dataDir: resolve('data'),
    databaseUrl: '',
    defaultTenantName: 'default',
    defaultTenantToken: '',
    adminEmail: '',
    adminPassword: '',
    userTokenTtl: 7 * 24 * 3600,
    deviceTokenTtl: 7 * 24 * 3600,
    maxJsonBody: 1024 * 1024,
    maxArtifactSize: 10 * 1024 ** 3,
    downloadLinkTtl: 24 * 3600,
    deploymentTimeout: 0,
    sweepInterval: 30,
    rateLimit: { max: 120, windowMs: 60_000 },
    logLevel: 'info',
    mqttPort: 1883,
    mqttUrl: '',
    kantoCommandTimeout: 30,
    kantoCommandAttempts: 3,
    kantoPushInterval: 5,
    deviceconnectPingInterval: 30,
    deviceconnectTimeout: 60,
  };
}

type Env = Record<string, string | undefined>;

function intOf(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return n;
}

/** Applies FLOTILLA_* environment variables over a config. */
export function fromEnv(base: Config, env: Env): Config {
  const c = { ...base, rateLimit: { ...base.rateLimit } };
  if (env.FLOTILLA_PORT) c.port = intOf('FLOTILLA_PORT', env.FLOTILLA_PORT);
  if (env.FLOTILLA_HOST) c.host = env.FLOTILLA_HOST;
  if (env.FLOTILLA_DATA) c.dataDir = resolve(env.FLOTILLA_DATA);
  if (env.FLOTILLA_DATABASE_URL) c.databaseUrl = env.FLOTILLA_DATABASE_URL;
  if (env.FLOTILLA_TENANT_TOKEN) c.defaultTenantToken = env.FLOTILLA_TENANT_TOKEN;
  if (env.FLOTILLA_ADMIN_EMAIL) c.adminEmail = env.FLOTILLA_ADMIN_EMAIL;
  if (env.FLOTILLA_ADMIN_PASSWORD) c.adminPassword = env.FLOTILLA_ADMIN_PASSWORD;
  if (env.FLOTILLA_RATE_LIMIT) c.rateLimit.max = intOf('FLOTILLA_RATE_LIMIT', env.FLOTILLA_RATE_LIMIT);
  if (env.FLOTILLA_MAX_ARTIFACT_SIZE)
    c.maxArtifactSize = intOf('FLOTILLA_MAX_ARTIFACT_SIZE', env.FLOTILLA_MAX_ARTIFACT_SIZE);
  if (env.FLOTILLA_LOG_LEVEL) c.logLevel = env.FLOTILLA_LOG_LEVEL;
  if (env.FLOTILLA_DEPLOYMENT_TIMEOUT)
    c.deploymentTimeout = intOf('FLOTILLA_DEPLOYMENT_TIMEOUT', env.FLOTILLA_DEPLOYMENT_TIMEOUT);
  if (env.FLOTILLA_SWEEP_INTERVAL) c.sweepInterval = intOf('FLOTILLA_SWEEP_INTERVAL', env.FLOTILLA_SWEEP_INTERVAL);
  if (env.FLOTILLA_MQTT_PORT) c.mqttPort = mqttPortOf('FLOTILLA_MQTT_PORT', env.FLOTILLA_MQTT_PORT);
  if (env.FLOTILLA_MQTT_URL) c.mqttUrl = env.FLOTILLA_MQTT_URL;
  if (env.FLOTILLA_KANTO_PUSH_INTERVAL)
    c.kantoPushInterval = intOf('FLOTILLA_KANTO_PUSH_INTERVAL', env.FLOTILLA_KANTO_PUSH_INTERVAL);
  if (env.FLOTILLA_DEVICECONNECT_PING_INTERVAL) {
    c.deviceconnectPingInterval = Math.max(
      1,
      intOf('FLOTILLA_DEVICECONNECT_PING_INTERVAL', env.FLOTILLA_DEVICECONNECT_PING_INTERVAL),
    );
  }
  return c;
}

function mqttPortOf(name: string, value: string): number | 'off' {
  return value === 'off' ? 'off' : intOf(name, value);
}

/** Parses `--name value` and `--name=value` flags; returns the flags and the remaining words. */
export function parseFlags(argv: string[]): { flags: Record<string, string>; rest: string[] } {
  const flags: Record<string, string> = {};
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (!word.startsWith('--')) {
      rest.push(word);
      continue;
    }
    const eq = word.indexOf('=');
    if (eq > 0) flags[word.slice(2, eq)] = word.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) flags[word.slice(2)] = argv[++i];
    else flags[word.slice(2)] = 'true';
  }
  return { flags, rest };
}

export function fromFlags(base: Config, flags: Record<string, string>): Config {
  const c = { ...base };
  if (flags.port !== undefined) c.port = intOf('--port', flags.port);
  if (flags.host !== undefined) c.host = flags.host;
  if (flags.data !== undefined) c.dataDir = resolve(flags.data);
  if (flags['database-url'] !== undefined) c.databaseUrl = flags['database-url'];
  if (flags['deployment-timeout'] !== undefined)
    c.deploymentTimeout = intOf('--deployment-timeout', flags['deployment-timeout']);
  if (flags['mqtt-port'] !== undefined) c.mqttPort = mqttPortOf('--mqtt-port', flags['mqtt-port']);
  if (flags['mqtt-url'] !== undefined) c.mqttUrl = flags['mqtt-url'];
  return c;
}

export function loadConfig(flags: Record<string, string>, env: Env = process.env): Config {
  return fromFlags(fromEnv(defaultConfig(), env), flags);
}
