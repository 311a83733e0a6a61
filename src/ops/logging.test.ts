// Logs: pino-pretty only when asked (serve asks on a terminal), JSON otherwise, and one line per request.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import Fastify, { LogController } from 'fastify';
import { defaultConfig } from '../config.js';
import { loggerOptions, logRequests } from './logging.js';

describe('logging', () => {
  it('pretty-prints for people and writes JSON for collectors', () => {
    const pretty = loggerOptions({ ...defaultConfig(), logFormat: 'pretty' }) as { transport?: { target: string } };
    assert.equal(pretty.transport?.target, 'pino-pretty');
    for (const logFormat of ['json', 'auto'] as const) {
      assert.deepEqual(loggerOptions({ ...defaultConfig(), logFormat, logLevel: 'warn' }), { level: 'warn' });
    }
  });

  it('writes one line per request, without the query (signed links carry their signature there)', async () => {
    const lines: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...String(chunk).trim().split('\n'));
        done();
      },
    });
    const app = Fastify({
      logger: { level: 'info', stream },
      logController: new LogController({ disableRequestLogging: true }),
    });
    logRequests(app);
    app.get('/x', async () => ({ ok: true }));
    const res = await app.inject({ method: 'GET', url: '/x?signature=secret' });
    assert.equal(res.statusCode, 200);
    await app.close();
    const requests = lines.map((l) => JSON.parse(l)).filter((l) => l.reqId);
    assert.equal(requests.length, 1, lines.join('\n'));
    assert.deepEqual([requests[0].method, requests[0].url, requests[0].status], ['GET', '/x', 200]);
    assert.ok(!lines.join('').includes('secret'));
  });
});
