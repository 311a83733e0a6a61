// The DDI routes in the served OpenAPI document (/api/openapi.json): every path of the DDI spec
// (../shared/specs/hawkbit/ddi-openapi.json) is there with its methods, and with schemas for bodies and answers.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type TestApp, testApp } from '../support/app.js';
import { SPEC_DIR, specsMissing } from '../support/contract.js';

const DDI_SPEC = join(SPEC_DIR, '..', 'hawkbit', 'ddi-openapi.json');
// `{fileName}.MD5SUM` is the same route as `{fileName}` here (a path parameter cannot end in a literal in Fastify).
const shape = (path: string) => path.replace(/\{[^}]+\}/g, '{}').replace(/\{\}\.MD5SUM$/, '{}');

describe('DDI routes in the served OpenAPI document', { skip: specsMissing }, () => {
  let t: TestApp;
  // biome-ignore lint/suspicious/noExplicitAny: an OpenAPI document read as JSON
  let served: any;
  before(async () => {
    t = await testApp('sqlite');
    served = (await t.app.inject({ method: 'GET', url: '/api/openapi.json' })).json();
  });
  after(() => t.close());

  it('lists every DDI spec path and method', () => {
    const spec = JSON.parse(readFileSync(DDI_SPEC, 'utf8'));
    const servedShapes = new Map(Object.entries(served.paths).map(([p, item]) => [shape(p), item as object]));
    for (const [path, item] of Object.entries(spec.paths as Record<string, object>)) {
      const ours = servedShapes.get(shape(path));
      assert.ok(ours, `${path} is not served`);
      for (const method of Object.keys(item)) assert.ok(method in ours, `${method} ${path} is not served`);
    }
  });

  it('describes bodies and answers with schemas', () => {
    const base = '/{tenant}/controller/v1/{controllerId}';
    const deployment =
      served.paths[`${base}/deploymentBase/{actionId}`].get.responses['200'].content['application/json'].schema;
    assert.deepEqual(
      deployment.properties.deployment.properties.update.anyOf.map((s: { enum: string[] }) => s.enum[0]),
      ['skip', 'attempt', 'forced'],
    );
    const feedback = served.paths[`${base}/deploymentBase/{actionId}/feedback`].post;
    assert.ok(feedback.requestBody.content['application/json'].schema.properties.status);
    assert.ok(feedback.requestBody.content['application/cbor'].schema.properties.status);
    const confirmation = served.paths[`${base}/confirmationBase/{actionId}/feedback`].post;
    assert.ok(confirmation.requestBody.content['application/json'].schema.properties.confirmation);
    assert.ok(served.paths[base].get.responses['200'].content['application/json'].schema.properties._links);
    assert.ok(served.paths[`${base}/confirmationBase`].get.responses['200']);
    assert.ok(
      served.paths[`${base}/cancelAction/{actionId}`].get.responses['4XX'] ??
        served.paths[`${base}/cancelAction/{actionId}`].get.responses['4xx'],
    );
  });
});
