// One place for configuration: defaults < environment < flags. Nothing else reads process.env.
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { type CrashPoint, crashPointOf } from './ops/crash.js';

export interface Config {
  /** TCP port of the HTTP server; 0 picks a free one. */
  port: number;
  host: string;
  /**
   * The URL people and devices reach this server by (`https://updates.example.com`, maybe with a path prefix a
   * proxy strips): every link the server hands out starts with it. Empty: each link is built from its request's
   * scheme and host (X-Forwarded-Proto / X-Forwarded-Host from a trusted proxy).
   */
  publicUrl: string;
  /**
   * Which peers may set X-Forwarded-For / -Proto / -Host (Fastify's trustProxy): true (any), false (none), a hop
   * count, or addresses, CIDR ranges and the names loopback, linklocal, uniquelocal.
   */
  trustProxy: boolean | number | string[];
  /** Data directory: SQLite database and blob folder live here on the embedded default. */
  dataDir: string;
  /**
   * An S3-compatible object store for blobs instead of the data directory's folder: undefined keeps the folder.
   * Credentials are not configuration: the AWS SDK takes them from its usual chain (AWS_ACCESS_KEY_ID and
   * AWS_SECRET_ACCESS_KEY, a profile, an instance role).
   */
  s3?: S3Config;
  /** `postgres://...` selects PostgreSQL; empty selects SQLite in the data directory. */
  databaseUrl: string;
  /**
   * PostgreSQL: milliseconds one SQL statement may run before it is cancelled and the request answered 503;
   * 0 lets statements run for ever.
   */
  statementTimeout: number;
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
  /** Seconds between reconciliations of blobs with rows (under a database lease; also once at start); 0: at start only. */
  reapInterval: number;
  /**
   * Seconds a blob no row owns is left alone before the reaper deletes it: an upload commits its blob a moment
   * before its row, maybe on another process.
   */
  blobGrace: number;
  /** Test only (the crash harness): the step at which the process kills itself with SIGKILL. */
  crashAt?: CrashPoint;
  /** Days audit log entries are kept (an hourly prune under a database lease); 0 keeps them for ever. */
  auditRetentionDays: number;
  /** Requests per window per client address on the login and device-auth routes. */
  rateLimit: { max: number; windowMs: number };
  logLevel: string;
  /** `json`: one JSON object a line (for log collectors); `pretty`: pino-pretty for people; `auto`: pretty on a TTY. */
  logFormat: 'auto' | 'json' | 'pretty';
  /** Bearer token that `/metrics` asks for; empty: `/metrics` answers loopback clients only. */
  metricsToken: string;
  /** Bearer token of the operator API (/api/admin/: tenants and limits); empty: that API answers 404. */
  operatorToken: string;
  /** Seconds `serve` waits at SIGTERM/SIGINT for requests and uploads in flight before it exits anyway. */
  shutdownTimeout: number;
  /** Port of the embedded MQTT broker for Kanto devices (0 picks a free one); 'off' runs none. */
  mqttPort: number | 'off';
  /** Address the embedded MQTT broker listens on; loopback unless devices on other hosts must reach it. */
  mqttHost: string;
  /** `mqtt://user:pass@host:port` of an external broker (Mosquitto, Hono); when set, no embedded broker runs. */
  mqttUrl: string;
  /**
   * The embedded broker's MQTT over TLS listener (Hono's MQTT adapter listens on 8883): its port (0 picks a free
   * one) or 'off', and the PEM files of its certificate (chain) and private key.
   */
  mqttTls: { port: number | 'off'; certFile: string; keyFile: string };
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

export interface S3Config {
  /** `http(s)://host[:port]`; empty for AWS's endpoint of the region. */
  endpoint: string;
  region: string;
  bucket: string;
  /** Key prefix ending in `/`, or empty. */
  prefix: string;
  /** Bucket in the path (radosgw, MinIO: the default with an endpoint) or in the host name (AWS). */
  pathStyle: boolean;
}

export function defaultConfig(): Config {
  return {
    port: 8080,
    host: '0.0.0.0',
    publicUrl: '',
    // A proxy on the same host (the usual TLS front) is believed; anything further away must be named.
    trustProxy: ['loopback'],
    dataDir: resolve('data'),
    databaseUrl: '',
    statementTimeout: 30_000,
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
    reapInterval: 3600,
    blobGrace: 3600,
    auditRetentionDays: 365,
    rateLimit: { max: 120, windowMs: 60_000 },
    logLevel: 'info',
    logFormat: 'auto',
    metricsToken: '',
    operatorToken: '',
    shutdownTimeout: 30,
    mqttPort: 1883,
    mqttHost: '127.0.0.1',
    mqttUrl: '',
    mqttTls: { port: 'off', certFile: '', keyFile: '' },
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
  if (env.FLOTILLA_PUBLIC_URL !== undefined) c.publicUrl = publicUrlOf('FLOTILLA_PUBLIC_URL', env.FLOTILLA_PUBLIC_URL);
  if (env.FLOTILLA_TRUST_PROXY) c.trustProxy = trustProxyOf('FLOTILLA_TRUST_PROXY', env.FLOTILLA_TRUST_PROXY);
  if (env.FLOTILLA_DATA) c.dataDir = resolve(env.FLOTILLA_DATA);
  if (env.FLOTILLA_DATABASE_URL) c.databaseUrl = env.FLOTILLA_DATABASE_URL;
  if (env.FLOTILLA_S3_URL) {
    c.s3 = s3Of('FLOTILLA_S3_URL', env.FLOTILLA_S3_URL, env.FLOTILLA_S3_REGION || env.AWS_REGION || 'us-east-1');
    if (env.FLOTILLA_S3_PATH_STYLE) c.s3.pathStyle = booleanOf('FLOTILLA_S3_PATH_STYLE', env.FLOTILLA_S3_PATH_STYLE);
  }
  if (env.FLOTILLA_STATEMENT_TIMEOUT_MS)
    c.statementTimeout = intOf('FLOTILLA_STATEMENT_TIMEOUT_MS', env.FLOTILLA_STATEMENT_TIMEOUT_MS);
  if (env.FLOTILLA_TENANT_TOKEN) c.defaultTenantToken = env.FLOTILLA_TENANT_TOKEN;
  if (env.FLOTILLA_ADMIN_EMAIL) c.adminEmail = env.FLOTILLA_ADMIN_EMAIL;
  if (env.FLOTILLA_ADMIN_PASSWORD) c.adminPassword = env.FLOTILLA_ADMIN_PASSWORD;
  if (env.FLOTILLA_RATE_LIMIT) c.rateLimit.max = intOf('FLOTILLA_RATE_LIMIT', env.FLOTILLA_RATE_LIMIT);
  if (env.FLOTILLA_MAX_ARTIFACT_SIZE)
    c.maxArtifactSize = intOf('FLOTILLA_MAX_ARTIFACT_SIZE', env.FLOTILLA_MAX_ARTIFACT_SIZE);
  if (env.FLOTILLA_LOG_LEVEL) c.logLevel = env.FLOTILLA_LOG_LEVEL;
  if (env.FLOTILLA_LOG_FORMAT) c.logFormat = logFormatOf(env.FLOTILLA_LOG_FORMAT);
  if (env.FLOTILLA_METRICS_TOKEN) c.metricsToken = env.FLOTILLA_METRICS_TOKEN;
  if (env.FLOTILLA_ADMIN_TOKEN) c.operatorToken = env.FLOTILLA_ADMIN_TOKEN;
  if (env.FLOTILLA_SHUTDOWN_TIMEOUT)
    c.shutdownTimeout = intOf('FLOTILLA_SHUTDOWN_TIMEOUT', env.FLOTILLA_SHUTDOWN_TIMEOUT);
  if (env.FLOTILLA_MQTT_HOST) c.mqttHost = env.FLOTILLA_MQTT_HOST;
  if (env.FLOTILLA_DEPLOYMENT_TIMEOUT)
    c.deploymentTimeout = intOf('FLOTILLA_DEPLOYMENT_TIMEOUT', env.FLOTILLA_DEPLOYMENT_TIMEOUT);
  if (env.FLOTILLA_SWEEP_INTERVAL) c.sweepInterval = intOf('FLOTILLA_SWEEP_INTERVAL', env.FLOTILLA_SWEEP_INTERVAL);
  if (env.FLOTILLA_REAP_INTERVAL) c.reapInterval = intOf('FLOTILLA_REAP_INTERVAL', env.FLOTILLA_REAP_INTERVAL);
  if (env.FLOTILLA_BLOB_GRACE) c.blobGrace = intOf('FLOTILLA_BLOB_GRACE', env.FLOTILLA_BLOB_GRACE);
  if (env.FLOTILLA_CRASH_AT) c.crashAt = crashPointOf('FLOTILLA_CRASH_AT', env.FLOTILLA_CRASH_AT);
  if (env.FLOTILLA_AUDIT_RETENTION_DAYS) {
    c.auditRetentionDays = intOf('FLOTILLA_AUDIT_RETENTION_DAYS', env.FLOTILLA_AUDIT_RETENTION_DAYS);
  }
  if (env.FLOTILLA_MQTT_PORT) c.mqttPort = mqttPortOf('FLOTILLA_MQTT_PORT', env.FLOTILLA_MQTT_PORT);
  if (env.FLOTILLA_MQTT_URL) c.mqttUrl = env.FLOTILLA_MQTT_URL;
  c.mqttTls = mqttTlsOf(c.mqttTls, {
    port: env.FLOTILLA_MQTT_TLS_PORT,
    certFile: env.FLOTILLA_MQTT_TLS_CERT,
    keyFile: env.FLOTILLA_MQTT_TLS_KEY,
    names: ['FLOTILLA_MQTT_TLS_PORT', 'FLOTILLA_MQTT_TLS_CERT', 'FLOTILLA_MQTT_TLS_KEY'],
  });
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

/** An absolute http(s) URL without query, fragment or credentials; kept without its trailing slash. */
function publicUrlOf(name: string, value: string): string {
  if (value === '') return '';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`${name} must be an absolute http:// or https:// URL, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`${name} must be an http:// or https:// URL, got ${JSON.stringify(value)}`);
  if (url.search || url.hash || url.username || url.password)
    throw new Error(`${name} must not carry a query, a fragment or credentials, got ${JSON.stringify(value)}`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/**
 * `http(s)://host[:port]/bucket[/prefix]` (an S3-compatible endpoint, bucket in the path) or `s3://bucket[/prefix]`
 * (AWS itself, the endpoint from the region, bucket in the host name).
 */
function s3Of(name: string, value: string, region: string): S3Config {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(
      `${name} must be http(s)://host/bucket[/prefix] or s3://bucket[/prefix], got ${JSON.stringify(value)}`,
    );
  }
  if (url.search || url.hash || url.username || url.password)
    throw new Error(
      `${name} must not carry a query, a fragment or credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY hold those)`,
    );
  const aws = url.protocol === 's3:';
  if (!aws && url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(
      `${name} must be http(s)://host/bucket[/prefix] or s3://bucket[/prefix], got ${JSON.stringify(value)}`,
    );
  const path = decodeURIComponent(url.pathname).split('/').filter(Boolean);
  const bucket = aws ? url.hostname : path.shift();
  if (!bucket || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
    throw new Error(`${name} names no valid bucket (3-63 of a-z 0-9 . -), got ${JSON.stringify(value)}`);
  return {
    endpoint: aws ? '' : url.origin,
    region,
    bucket,
    prefix: path.length ? `${path.join('/')}/` : '',
    pathStyle: !aws,
  };
}

function booleanOf(name: string, value: string): boolean {
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new Error(`${name} must be true or false, got ${JSON.stringify(value)}`);
}

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** `true`, `false`, a hop count, or a comma-separated list of addresses, CIDR ranges and proxy-addr's names. */
function trustProxyOf(name: string, value: string): boolean | number | string[] {
  const text = value.trim();
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (/^\d+$/.test(text)) return intOf(name, text);
  const entries = text
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  for (const entry of entries) {
    const [address, bits, ...rest] = entry.split('/');
    const ok = PROXY_NAMES.has(address)
      ? bits === undefined
      : isIP(address) !== 0 && rest.length === 0 && (bits === undefined || /^\d{1,3}$/.test(bits) || isIP(bits) === 4);
    if (!ok)
      throw new Error(
        `${name}: ${JSON.stringify(entry)} is no address, CIDR range or loopback/linklocal/uniquelocal (or use true, false, a hop count)`,
      );
  }
  if (entries.length === 0) throw new Error(`${name} is empty`);
  return entries;
}

function logFormatOf(value: string): Config['logFormat'] {
  if (value === 'auto' || value === 'json' || value === 'pretty') return value;
  throw new Error(`FLOTILLA_LOG_FORMAT must be auto, json or pretty, got ${JSON.stringify(value)}`);
}

function mqttPortOf(name: string, value: string): number | 'off' {
  return value === 'off' ? 'off' : intOf(name, value);
}

/** The TLS listener's settings over `base`: a port needs both PEM files. */
function mqttTlsOf(
  base: Config['mqttTls'],
  given: { port?: string; certFile?: string; keyFile?: string; names: [string, string, string] },
): Config['mqttTls'] {
  const [portName, certName, keyName] = given.names;
  const tls = {
    port: given.port ? mqttPortOf(portName, given.port) : base.port,
    certFile: given.certFile ? resolve(given.certFile) : base.certFile,
    keyFile: given.keyFile ? resolve(given.keyFile) : base.keyFile,
  };
  if (tls.port !== 'off' && (!tls.certFile || !tls.keyFile)) {
    throw new Error(`${portName} needs a certificate and a key: ${certName} and ${keyName} (PEM files)`);
  }
  return tls;
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
  if (flags['public-url'] !== undefined) c.publicUrl = publicUrlOf('--public-url', flags['public-url']);
  if (flags['trust-proxy'] !== undefined) c.trustProxy = trustProxyOf('--trust-proxy', flags['trust-proxy']);
  if (flags.data !== undefined) c.dataDir = resolve(flags.data);
  if (flags['database-url'] !== undefined) c.databaseUrl = flags['database-url'];
  if (flags['s3-url'] !== undefined) c.s3 = s3Of('--s3-url', flags['s3-url'], c.s3?.region ?? 'us-east-1');
  if (flags['deployment-timeout'] !== undefined)
    c.deploymentTimeout = intOf('--deployment-timeout', flags['deployment-timeout']);
  if (flags['mqtt-port'] !== undefined) c.mqttPort = mqttPortOf('--mqtt-port', flags['mqtt-port']);
  if (flags['mqtt-url'] !== undefined) c.mqttUrl = flags['mqtt-url'];
  c.mqttTls = mqttTlsOf(c.mqttTls, {
    port: flags['mqtt-tls-port'],
    certFile: flags['mqtt-tls-cert'],
    keyFile: flags['mqtt-tls-key'],
    names: ['--mqtt-tls-port', '--mqtt-tls-cert', '--mqtt-tls-key'],
  });
  if (flags['mqtt-host'] !== undefined) c.mqttHost = flags['mqtt-host'];
  return c;
}

export function loadConfig(flags: Record<string, string>, env: Env = process.env): Config {
  return fromFlags(fromEnv(defaultConfig(), env), flags);
}
