// The OpenAPI document at /api/openapi.json describes every route the server serves (Mender, DDI and its operator
// routes, Kanto, signed links, operations), and the API browser at /api/docs serves Swagger UI over it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { API_BROWSER_PATH } from '../../src/ops/index.js';
import { openApiPath, registeredRoutes } from '../contract/served-routes.js';
import { type TestApp, testApp } from '../support/app.js';

/** Served but not API operations: the document itself, the browser's pages and scripts, and the web UI's files. */
const isDocumentation = (url: string) =>
  url === '/api/openapi.json' || url.startsWith(API_BROWSER_PATH) || url === '/' || url.startsWith('/ui/');

describe('OpenAPI document and API browser', () => {
  let t: TestApp;
  before(async () => {
    t = await testApp('sqlite', { mqttPort: 'off' });
    await t.app.ready();
  });
  after(() => t.close());

  it('documents every served route and method, and nothing that is not served', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/openapi.json' });
    assert.equal(res.statusCode, 200);
    const doc = res.json() as { paths: Record<string, Record<string, unknown>> };
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) =>
        Object.keys(ops)
          .filter((m) => m !== 'head')
          .map((m) => `${m.toUpperCase()} ${path}`),
      ),
    );
    // HEAD is answered for every GET by Fastify itself; OpenAPI leaves it implied.
    const served = registeredRoutes(t.app).filter((r) => r.method !== 'HEAD' && !isDocumentation(r.url));
    const servedKeys = new Set(served.map((r) => `${r.method} ${openApiPath(r.url)}`));
    assert.ok(servedKeys.has('GET /{tenant}/controller/v1/{controllerId}'), 'DDI routes are among the served ones');
    assert.deepEqual([...servedKeys].filter((key) => !documented.has(key)).sort(), [], 'served, not documented');
    assert.deepEqual([...documented].filter((key) => !servedKeys.has(key)).sort(), [], 'documented, not served');
    for (const key of ['GET /health', 'GET /ready', 'GET /metrics', 'POST /api/ddi/v1/targets']) {
      assert.ok(documented.has(key), key);
    }
  });

  it('serves Swagger UI at /api/docs, reading /api/openapi.json, with no credentials', async () => {
    const page = await t.app.inject({ method: 'GET', url: `${API_BROWSER_PATH}/` });
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /text\/html/);
    assert.match(page.body, /swagger/i);
    const init = await t.app.inject({ method: 'GET', url: `${API_BROWSER_PATH}/static/swagger-initializer.js` });
    assert.equal(init.statusCode, 200);
    const json = await t.app.inject({ method: 'GET', url: `${API_BROWSER_PATH}/json` });
    assert.equal(json.statusCode, 200);
    assert.ok(json.json().paths['/api/ddi/v1/targets']);
  });
});
