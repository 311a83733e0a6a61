// Prometheus metrics at /metrics (prom-client, a registry per app: nothing global). Request rate and latency per
// route family, device polls per protocol, uploads in flight, and at scrape time the deployments domain's gauges
// (src/deployments/gauges.ts), MQTT connections and database pool use. Protected by a bearer token, or loopback-only
// without one.
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Gauge, Registry } from 'prom-client';
import type { BlobReaper } from '../artifacts/reaper.js';
import type { Broker } from '../broker/broker.js';
import type { Config } from '../config.js';
import { registerDeploymentGauges } from '../deployments/gauges.js';
import type { DeploymentService } from '../deployments/service.js';
import { Forbidden, Unauthorized } from '../errors.js';
import type { Store } from '../store/db.js';
import { RequestMetrics } from './request-metrics.js';

export interface MetricsSources {
  store: Store;
  /** The deployments domain, which alone reads its tables: the status counts come from it. */
  deployments: Pick<DeploymentService, 'fleetStatusCounts'>;
  config: Config;
  /** The Kanto broker when one runs (read at scrape time: it starts after the routes are registered). */
  broker: () => Broker | undefined;
  /** The blob reaper, whose last reconciliation (by this process) the blob gauges show. */
  reaper?: BlobReaper;
}

/** Routes that receive an artifact's bytes: counted while in flight. */
const UPLOAD_ROUTES = new Set([
  'POST /api/management/v1/deployments/artifacts',
  'POST /api/management/v1/deployments/artifacts/generate',
  'PUT /api/uploads/v1/:tenant/artifacts/:id',
  'POST /api/ddi/v1/artifacts',
]);

/** A device's "anything for me?" request, per protocol (Kanto devices are pushed to over MQTT: they never poll). */
function pollProtocol(method: string, route: string): string | undefined {
  if (method === 'POST' || method === 'GET') {
    if (/^\/api\/devices\/v[12]\/deployments\/device\/deployments\/next$/.test(route)) return 'mender';
  }
  if (method === 'GET' && route === '/:tenant/controller/v1/:controllerId') return 'ddi';
  return undefined;
}

/**
 * A bounded label for a route template: `/api/<api>/<version>/<service>/...` → `<api>/<service>` (e.g.
 * `devices/deployments`, `management/devauth`), DDI's `/:tenant/controller/...` → `ddi/controller`, else the
 * first segment; requests that matched no route → `unmatched`.
 */
export function routeFamily(route: string | undefined): string {
  if (!route) return 'unmatched';
  const parts = route.split('/').filter(Boolean);
  if (parts[0] === 'api' && parts.length >= 2) {
    const service = parts[3] && !parts[3].startsWith(':') ? `/${parts[3]}` : '';
    return `${parts[1]}${service}`;
  }
  if (parts[1] === 'controller') return 'ddi/controller';
  return parts[0]?.startsWith(':') ? 'other' : (parts[0] ?? 'root');
}

const inFlight = Symbol('flotilla.uploadInFlight');
type TrackedRequest = FastifyRequest & { [inFlight]?: boolean };

export function installMetrics(app: FastifyInstance, sources: MetricsSources): Registry {
  const registry = new Registry();
  const answers = new RequestMetrics({
    familyOf: routeFamily,
    pollProtocolOf: pollProtocol,
    protocols: ['mender', 'ddi'],
  });
  answers.register(registry);
  const uploads = new Gauge({
    name: 'flotilla_uploads_in_flight',
    help: 'Artifact uploads being received now',
    registers: [registry],
  });
  const { store, broker, deployments } = sources;
  registerDeploymentGauges(registry, deployments);
  new Gauge({
    name: 'flotilla_mqtt_connections',
    help: 'MQTT connections: device clients of the embedded broker, or Flotilla’s own to an external one',
    registers: [registry],
    collect() {
      this.set(broker()?.status().connections ?? 0);
    },
  });
  new Gauge({
    name: 'flotilla_db_pool_connections',
    help: 'Database connections: total open, idle, and requests waiting for one',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const use = store.poolUse();
      this.set({ state: 'total' }, use.total);
      this.set({ state: 'idle' }, use.idle);
      this.set({ state: 'waiting' }, use.waiting);
    },
  });
  if (sources.reaper) blobMetrics(registry, sources.reaper);

  const leave = (request: TrackedRequest) => {
    if (!request[inFlight]) return;
    request[inFlight] = false;
    uploads.dec();
  };
  app.addHook('onRequest', async (request: TrackedRequest) => {
    if (UPLOAD_ROUTES.has(`${request.method} ${request.routeOptions.url}`)) {
      request[inFlight] = true;
      uploads.inc();
    }
  });
  app.addHook('onRequestAbort', async (request: TrackedRequest) => leave(request));
  app.addHook('onResponse', async (request: TrackedRequest, reply) => {
    leave(request);
    answers.record(request.routeOptions.url, request.method, reply.statusCode, reply.elapsedTime / 1000);
  });

  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics (text format 0.0.4)', tags: ['operations'] } },
    async (request, reply) => {
      guardMetrics(request, sources.config.metricsToken);
      const text = await registry.metrics();
      return reply.type(registry.contentType).send(text);
    },
  );
  return registry;
}

const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

/**
 * With a token set, only `Authorization: Bearer <token>` may read; without one, only clients on this host (the
 * socket's address, not X-Forwarded-For: a proxy in front must send the token).
 */
function guardMetrics(request: FastifyRequest, token: string): void {
  if (token) {
    const given = Buffer.from(request.headers.authorization ?? '');
    const wanted = Buffer.from(`Bearer ${token}`);
    if (given.length !== wanted.length || !timingSafeEqual(given, wanted))
      throw new Unauthorized('metrics need the bearer token set in FLOTILLA_METRICS_TOKEN');
    return;
  }
  if (!LOOPBACK.test(request.socket.remoteAddress ?? ''))
    throw new Forbidden('metrics answer loopback clients only; set FLOTILLA_METRICS_TOKEN to read them remotely');
}

/** What the blob reaper found on its last run in this process (another process may hold its lease: then nothing). */
function blobMetrics(registry: Registry, reaper: BlobReaper): void {
  const gauge = (name: string, help: string, read: () => number | undefined) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const value = read();
        if (value !== undefined) this.set(value);
      },
    });
  gauge('flotilla_blob_reconciliations', 'Blob reconciliations this process ran', () => reaper.runs);
  gauge('flotilla_blobs_reaped', 'Blobs no row owned that this process deleted', () => reaper.reapedTotal);
  gauge(
    'flotilla_blobs_missing',
    'Rows whose blob is missing, at the last reconciliation',
    () => reaper.last?.missing.length,
  );
  gauge('flotilla_blob_bytes', 'Bytes of the blobs, at the last reconciliation', () => reaper.last?.bytes);
  gauge(
    'flotilla_blob_accounted_bytes',
    'Bytes the rows account for (artifacts, direct uploads), at the last reconciliation',
    () => reaper.last?.accounted,
  );
}
