// The audit export of 100,000 entries (~40 MiB of CSV), on both dialects, over a real socket: the entries are seeded with one SQL
// statement (not the API). The reply is chunked; while the client reads nothing, the server stops after a few
// pages (a stream with backpressure, not a result built first) and the heap it keeps is a few pages' worth; the
// store is read in keyset pages of EXPORT_PAGE rows; every entry arrives once, in order.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { sql } from 'kysely';
import { adminToken, dialects, type TestApp, testApp } from '../../test/support/app.js';
import { EXPORT_PAGE } from './service.js';

const ENTRIES = 100_000;
const PAGES = Math.ceil(ENTRIES / EXPORT_PAGE);
/**
 * Each entry's change text: long enough that the export (~40 MiB) is many times what the loopback socket's buffers
 * hold (a few MiB), so a paused client holds the server back well before half of the pages.
 */
const CHANGE = `seeded, with a comma; ${'x'.repeat(300)}`;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Heap in use after a full collection, in MiB. */
function liveHeap(): number {
  gc();
  return process.memoryUsage().heapUsed / 1024 ** 2;
}

/** Waits until `count` stops growing (checked every 50 ms: a wait for quiescence, not a time limit). */
async function settled(count: () => number): Promise<number> {
  let previous = -1;
  let current = count();
  while (current !== previous) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    previous = current;
    current = count();
  }
  return current;
}

interface Received {
  lines: string[];
  chunked: boolean;
  readsWhilePaused: number;
  heapWhilePaused: number;
}

for (const dialect of dialects) {
  describe(`audit export of ${ENTRIES} entries (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
      // Ids sort as the numbers do (same length); all entries share one time, so the id tie-break carries the order.
      await sql`with recursive n(i) as (select 1 union all select i + 1 from n where i < ${sql.lit(ENTRIES)})
        insert into audit_logs (tenant_id, id, time, actor_type, actor_id, actor_email, action, object_type,
          object_id, object_json, change)
        select ${t.tenant.id}, 'seed-' || (1000000 + i), '2026-01-01T00:00:00.000Z', 'user', 'seed-user',
          'seed@example.com', 'create', 'deployment', 'deployment-' || i,
          '{"deployment":{"name":"rollout ' || i || '","artifact_name":"release-1"}}', ${CHANGE}
        from n`.execute(t.services.store.db);
      await t.app.listen({ port: 0, host: '127.0.0.1' });
    });
    after(() => t.close());

    test('streams in keyset pages, with backpressure and flat memory', async () => {
      const { port } = t.app.server.address() as AddressInfo;
      const auditReads = (texts: string[]) => texts.filter((s) => /from "audit_logs"/.test(s)).length;
      const heapBefore = liveHeap();
      t.services.store.trace(true);
      let reads = 0;
      const countReads = () => {
        reads += auditReads(t.services.store.trace(true));
        return reads;
      };
      const received = await new Promise<Received>((resolve, reject) => {
        const path = '/api/management/v1/auditlogs/logs/export?sort=asc';
        const req = request({ port, path, headers: { authorization: `Bearer ${token}` } }, (res) => {
          const lines: string[] = [];
          let rest = '';
          let readsWhilePaused = -1;
          let heapWhilePaused = 0;
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            if (readsWhilePaused < 0) {
              // The client stops reading; a streaming export stops reading pages once the socket's buffers are full.
              readsWhilePaused = 0;
              res.pause();
              settled(countReads).then((n) => {
                readsWhilePaused = n;
                heapWhilePaused = liveHeap();
                res.resume();
              }, reject);
            }
            const parts = (rest + chunk).split('\r\n');
            rest = parts.pop() ?? '';
            lines.push(...parts);
          });
          res.on('end', () =>
            resolve({
              lines,
              chunked: res.headers['transfer-encoding'] === 'chunked' && !res.headers['content-length'],
              readsWhilePaused,
              heapWhilePaused,
            }),
          );
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end();
      });
      const total = countReads();
      t.services.store.trace(false);
      assert.ok(received.chunked, 'the reply is chunked');
      assert.equal(received.lines.length, ENTRIES + 1, 'the header and every entry');
      assert.match(
        received.lines[1],
        /^2026-01-01T00:00:00.000Z,create,seed-user,user,seed@example.com,deployment-1,deployment,,rollout 1,/,
      );
      assert.match(received.lines[ENTRIES], new RegExp(`,deployment-${ENTRIES},.*,"${CHANGE}",$`));
      assert.ok(received.readsWhilePaused < PAGES / 2, `${received.readsWhilePaused} pages read while paused`);
      // One query per page, and the last (short or empty) one.
      assert.ok(total >= PAGES && total <= PAGES + 1, `${total} reads for ${PAGES} pages`);
      // The CSV is ~40 MiB and the rows as objects more than that; a paused stream holds a few pages.
      const held = received.heapWhilePaused - heapBefore;
      console.log(
        `audit export: ${received.readsWhilePaused} pages read while paused, heap held ${held.toFixed(1)} MiB`,
      );
      assert.ok(held < 12, `the paused export holds ${held.toFixed(1)} MiB of heap`);
    });
  });
}
