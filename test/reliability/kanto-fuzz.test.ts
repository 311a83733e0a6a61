// Issue 18: arbitrary and mangled Ditto messages (fast-check) from a registered Kanto device, on both dialects:
// each is handled or refused with a reason, none fails inside the server (the adapter's "device work failed"
// error), and the device's real messages are still taken afterwards. 200 runs in CI; FLOTILLA_FUZZ_RUNS for more.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { kantoApp, registerThing, uniqueThing } from '../kanto/support.js';
import { dialects, type TestApp } from '../support/app.js';

const RUNS = Number(process.env.FLOTILLA_FUZZ_RUNS ?? 200);
const EXAMPLES = join(import.meta.dirname, '../kanto/examples');
const examples = readdirSync(EXAMPLES)
  .filter((name) => name.endsWith('.event.json'))
  .map((name) => JSON.parse(readFileSync(join(EXAMPLES, name), 'utf8')) as Record<string, unknown>);

interface Adapter {
  onMessage(topic: string, payload: Buffer): void;
  settled(): Promise<void>;
}

for (const dialect of dialects) {
  describe(`fuzzed Kanto messages (${dialect})`, () => {
    let t: TestApp;
    let thingId: string;
    before(async () => {
      let token: string;
      ({ t, token } = await kantoApp(dialect, 'embedded', { kantoPushInterval: 0 }));
      thingId = uniqueThing('fuzz');
      await registerThing(t, token, thingId, 'kanto-fuzz');
    });
    after(() => t.close());

    test(`${RUNS} messages: each handled or refused, none fails in the server`, async () => {
      const adapter = t.app.kanto.adapter as unknown as Adapter & { log: Record<string, unknown> };
      const failures: unknown[] = [];
      const log = adapter.log as Record<string, (...args: unknown[]) => void>;
      const spy = Object.create(log) as Record<string, (...args: unknown[]) => void>;
      spy.error = (...args: unknown[]) => failures.push(args);
      adapter.log = spy;
      const [namespace, name] = thingId.split(':');
      const own = (example: Record<string, unknown>) => ({
        ...example,
        topic: String(example.topic).replace(/^[^/]+\/[^/]+/, `${namespace}/${name}`),
      });
      const mangled = fc.oneof(
        fc.jsonValue({ maxDepth: 3 }),
        fc.record({ example: fc.constantFrom(...examples), value: fc.jsonValue({ maxDepth: 3 }) }).map((m) => ({
          ...own(m.example),
          value: m.value,
        })),
        fc
          .record({
            example: fc.constantFrom(...examples),
            key: fc.constantFrom('activityId', 'timestamp', 'desiredStateFeedback', 'status', 'inventory', 'domain'),
            leaf: fc.jsonValue({ maxDepth: 2 }),
          })
          .map((m) => {
            const message = own(m.example) as { value?: Record<string, unknown> };
            return { ...message, value: { ...(message.value ?? {}), [m.key]: m.leaf } };
          }),
        fc.record({ example: fc.constantFrom(...examples), path: fc.string({ maxLength: 30 }) }).map((m) => ({
          ...own(m.example),
          path: m.path,
        })),
      );
      const payload = fc.oneof(
        mangled.map((m) => Buffer.from(JSON.stringify(m))),
        fc.string({ maxLength: 60 }).map((s) => Buffer.from(s)),
      );
      await fc.assert(
        fc.asyncProperty(payload, async (bytes) => {
          adapter.onMessage(`event/${t.tenant.id}/${thingId}`, bytes);
          await adapter.settled();
          assert.deepEqual(failures, [], bytes.toString().slice(0, 300));
        }),
        { numRuns: RUNS },
      );
      adapter.log = log;
      const health = await t.app.inject({ method: 'GET', url: '/health' });
      assert.equal(health.statusCode, 200);
    });
  });
}
