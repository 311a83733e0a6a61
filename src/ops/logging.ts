// Logs for people and for collectors: pino-pretty (colours, local times, one line per entry) when the format is
// `pretty`, plain JSON lines otherwise; and one line per request, written when the response is sent, instead of
// Fastify's two (incoming + completed).
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Config } from '../config.js';

export function loggerOptions(config: Config): FastifyServerOptions['logger'] {
  if (config.logFormat !== 'pretty') return { level: config.logLevel };
  return {
    level: config.logLevel,
    transport: {
      target: 'pino-pretty',
      options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true },
    },
  };
}

export function logRequests(app: FastifyInstance): void {
  app.addHook('onResponse', async (request, reply) => {
    // Nothing to build when the line would not be written (at `warn`, as the benchmarks run). pino has the check;
    // Fastify's logger type leaves it out.
    if ((request.log as { isLevelEnabled?(level: string): boolean }).isLevelEnabled?.('info') === false) return;
    const url = request.url.split('?', 1)[0];
    const ms = Math.round(reply.elapsedTime * 10) / 10;
    request.log.info(
      { method: request.method, url, status: reply.statusCode, ms },
      `${request.method} ${url} ${reply.statusCode} ${ms} ms`,
    );
  });
}
