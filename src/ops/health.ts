// Probes for load balancers and orchestrators: /health says the process is up (liveness), /ready says whether it
// can do its work now: the database answers, the blob store takes files, the MQTT broker (when configured) is up,
// and the server is not shutting down. Each check is bounded so a hung dependency gives a 503, not a hung probe.
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { BlobStore } from '../blobs/store.js';
import type { Broker } from '../broker/broker.js';
import type { Config } from '../config.js';
import type { Store } from '../store/db.js';

export interface ReadinessSources {
  store: Store;
  blobs: BlobStore;
  config: Config;
  broker: () => Broker | undefined;
}

/** A check that has not answered by then counts as failed. */
const CHECK_TIMEOUT_MS = 2000;

type CheckResult = 'ok' | 'off' | string;

const Checks = Type.Object({
  server: Type.String(),
  database: Type.String(),
  blobs: Type.String(),
  broker: Type.String(),
});
const Ready = Type.Object({ status: Type.Union([Type.Literal('ready'), Type.Literal('unavailable')]), checks: Checks });

async function bounded(check: () => Promise<CheckResult>): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(resolve, CHECK_TIMEOUT_MS, `no answer within ${CHECK_TIMEOUT_MS} ms`);
  });
  try {
    return await Promise.race([check().catch((error: unknown) => errorText(error)), late]);
  } finally {
    clearTimeout(timer);
  }
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error)) || 'failed';

declare module 'fastify' {
  interface FastifyInstance {
    /** Set when shutdown begins (./shutdown.ts, or Fastify's close): /ready answers 503 from then on. */
    shuttingDown: boolean;
  }
}

export function installHealth(app: FastifyInstance, sources: ReadinessSources): void {
  app.decorate('shuttingDown', false);
  app.addHook('preClose', async () => {
    app.shuttingDown = true;
  });

  app.get(
    '/health',
    {
      schema: {
        summary: 'Liveness: the process is up and serving HTTP',
        tags: ['operations'],
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/ready',
    {
      schema: {
        summary: 'Readiness: database, blob store and MQTT broker reachable (503 with the failing check otherwise)',
        tags: ['operations'],
        response: { 200: Ready, 503: Ready },
      },
    },
    async (_request, reply) => {
      const { store, blobs, config, broker } = sources;
      const [database, blobStore] = await Promise.all([
        bounded(async () => {
          await sql`select 1`.execute(store.db);
          return 'ok';
        }),
        bounded(async () => {
          await blobs.probe?.();
          return 'ok';
        }),
      ]);
      const server = app.shuttingDown ? 'shutting down' : 'ok';
      const checks = { server, database, blobs: blobStore, broker: brokerCheck(config, broker()) };
      const ready = Object.values(checks).every((c) => c === 'ok' || c === 'off');
      return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', checks });
    },
  );
}

function brokerCheck(config: Config, broker: Broker | undefined): CheckResult {
  if (!config.mqttUrl && config.mqttPort === 'off') return 'off';
  if (!broker) return 'not running (see the log: port taken or broker unreachable at start)';
  const status = broker.status();
  return status.up ? 'ok' : (status.reason ?? 'down');
}
