// Issue 18: arbitrary JSON bodies (fast-check) on every management, device and DDI-operator route that takes a
// body, on both dialects: no answer is a 5xx, and the server still answers afterwards. A few hundred runs in CI;
// FLOTILLA_FUZZ_RUNS raises the count for a longer run.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { registeredRoutes } from '../contract/served-routes.js';
import { adminToken, dialects, type TestApp, testApp } from '../support/app.js';
import { assignedAttempt } from '../support/deployment-fixtures.js';

const RUNS = Number(process.env.FLOTILLA_FUZZ_RUNS ?? 300);

/** Field names the routes read, so that generated objects reach past the first "missing field" check. */
const FIELDS = [
  'name',
  'artifact_name',
  'devices',
  'device_ids',
  'deployment_ids',
  'phases',
  'batch_size',
  'start_ts',
  'retries',
  'max_devices',
  'update_control_map',
  'filter_id',
  'status',
  'substate',
  'messages',
  'filters',
  'scope',
  'attribute',
  'type',
  'value',
  'page',
  'per_page',
  'sort',
  'id_data',
  'pubkey',
  'tenant_token',
  'email',
  'password',
  'current_password',
  'terminal',
  'description',
  'tags',
  'group',
  'configuration',
  'expires_in',
];

/** Any JSON value, objects keyed by the fields above, deep nests, and text that is not JSON at all. */
const jsonBody = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc
    .dictionary(fc.constantFrom(...FIELDS), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 6 })
    .map((v) => JSON.stringify(v)),
  fc
    .array(fc.dictionary(fc.constantFrom(...FIELDS), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }), { maxLength: 4 })
    .map((v) => JSON.stringify(v)),
  fc.integer({ min: 1, max: 5000 }).map((depth) => `${'['.repeat(depth)}${']'.repeat(depth)}`),
  fc.string({ maxLength: 40 }),
);

/** Routes that end the caller's own session are left out: the rest of the run would be 401s. */
const SKIPPED = new Set(['POST /api/management/v1/useradm/auth/logout']);

for (const dialect of dialects) {
  describe(`fuzzed JSON bodies (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    let device: { id: string; token: string };
    let deploymentId: string;
    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
      const attempt = await assignedAttempt(t, token, 'fuzz');
      device = attempt.device;
      deploymentId = attempt.id;
    });
    after(() => t.close());

    test(`${RUNS} bodies: no 5xx, and the server keeps answering`, async () => {
      const routes = registeredRoutes(t.app).filter(
        (r) =>
          ['POST', 'PUT', 'PATCH'].includes(r.method) &&
          /^\/api\/(management|devices|ddi)\//.test(r.url) &&
          !SKIPPED.has(`${r.method} ${r.url}`),
      );
      assert.ok(routes.length > 40, `only ${routes.length} routes found`);
      const paramValue = fc.oneof(
        fc.constantFrom(device.id, deploymentId, 'default', 'g1'),
        fc.string({ minLength: 1, maxLength: 12 }).map(encodeURIComponent),
      );
      const seen = new Map<string, number>();
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...routes),
          fc.array(paramValue, { minLength: 4, maxLength: 4 }),
          jsonBody,
          async (route, params, body) => {
            let n = 0;
            const url = route.url.replace(/:[A-Za-z_]+/g, () => params[n++ % params.length]);
            const bearer = route.url.startsWith('/api/devices/') ? device.token : token;
            const res = await t.app.inject({
              method: route.method as 'POST',
              url,
              headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
              payload: body,
            });
            seen.set(String(res.statusCode), (seen.get(String(res.statusCode)) ?? 0) + 1);
            // 501 is a deliberate answer (IoT integrations are not offered), not a failure.
            assert.ok(
              res.statusCode < 500 || res.statusCode === 501,
              `${route.method} ${url} ${body.slice(0, 200)} → ${res.statusCode} ${res.body}`,
            );
          },
        ),
        { numRuns: RUNS },
      );
      // Not every answer may be the same refusal, or the fuzzing reached nothing.
      assert.ok(seen.size > 2, JSON.stringify(Object.fromEntries(seen)));
      const health = await t.app.inject({ method: 'GET', url: '/health' });
      assert.equal(health.statusCode, 200);
      assert.ok(await adminToken(t, 'second@example.com', 'another-password'));
    });
  });
}
