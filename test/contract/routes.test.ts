// Every Mender route the app serves is in an official spec (or written down in deviations.ts with a reason), and the
// OpenAPI document the server generates at /api/openapi.json is valid OpenAPI 3 and lists those routes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { dialects, type TestApp, testApp } from '../support/app.js';
import { contract, SPEC_DIR, specsMissing, templateShape } from '../support/contract.js';
import { extraFields, specPatches, undocumentedRoutes } from './deviations.js';
import { notImplemented } from './gaps.js';
import { openApiPath, type RegisteredRoute, registeredRoutes } from './served-routes.js';

const MENDER_PREFIXES = ['/api/management/', '/api/devices/'];
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'];

const isMender = (route: RegisteredRoute) => MENDER_PREFIXES.some((prefix) => route.url.startsWith(prefix));
// Fastify adds HEAD for every GET by itself; the specs never list HEAD.
const menderRoutes = (t: TestApp) => registeredRoutes(t.app).filter((r) => isMender(r) && r.method !== 'HEAD');

type OpenApiDoc = {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<
    string,
    Record<
      string,
      { parameters?: { in: string; name: string; required?: boolean }[]; responses?: Record<string, unknown> }
    >
  >;
};

describe('deviations.ts itself', { skip: specsMissing }, () => {
  it('gives a reason for every entry and names each route once', () => {
    for (const [route, reason] of Object.entries(undocumentedRoutes)) {
      assert.match(route, /^(GET|PUT|POST|DELETE|PATCH) \/api\/(management|devices)\//, route);
      assert.ok(reason.length > 20, `${route}: the reason must say why`);
      assert.equal(
        contract().findTemplate(route.split(' ')[0], route.split(' ')[1]),
        undefined,
        `${route} is in a spec`,
      );
    }
    for (const patch of specPatches) assert.ok(patch.reason.length > 20, `${patch.file} ${patch.at.join('>')}`);
  });

  it('lists only extra fields that the named spec schema really lacks', () => {
    for (const [key, reason] of Object.entries(extraFields)) {
      const [, file, schema, field] = /^([^#]+)#([^.]+)\.(.+)$/.exec(key) ?? [];
      assert.ok(file && reason.length > 20, key);
      const doc = parse(readFileSync(join(SPEC_DIR, file), 'utf8'));
      const properties = doc.components.schemas[schema]?.properties;
      assert.ok(properties, `${key}: no such schema`);
      assert.equal(properties[field], undefined, `${key} is in the spec`);
    }
  });
});

for (const dialect of dialects) {
  describe(`served Mender routes against the official specs (${dialect})`, { skip: specsMissing }, () => {
    let t: TestApp;
    let doc: OpenApiDoc;
    before(async () => {
      t = await testApp(dialect);
      const res = await t.app.inject({ method: 'GET', url: '/api/openapi.json' });
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      doc = res.json();
    });
    after(() => t.close());

    it('finds the routes the app serves (sanity check of the route listing)', () => {
      const routes = registeredRoutes(t.app);
      assert.ok(routes.some((r) => r.method === 'GET' && r.url === '/api/openapi.json'));
      assert.ok(routes.some((r) => r.method === 'POST' && r.url === '/api/management/v1/useradm/auth/login'));
    });

    it('serves every Mender route as some official spec has it, or has a written reason', () => {
      const missing = menderRoutes(t)
        .filter((route) => !contract().findTemplate(route.method, route.url))
        .filter((route) => {
          const shape = templateShape(route.url);
          return !Object.keys(undocumentedRoutes).some((key) => {
            const [method, template] = key.split(' ');
            return method === route.method && templateShape(template) === shape;
          });
        })
        .map((route) => `${route.method} ${openApiPath(route.url)}`);
      assert.deepEqual(missing, [], `routes in no spec and not in deviations.ts:\n${missing.join('\n')}`);
    });

    it('has no entry in deviations.ts for a route that is not served', () => {
      const served = new Set(menderRoutes(t).map((r) => `${r.method} ${templateShape(r.url)}`));
      const stale = Object.keys(undocumentedRoutes).filter((key) => {
        const [method, template] = key.split(' ');
        return !served.has(`${method} ${templateShape(template)}`);
      });
      assert.deepEqual(stale, []);
    });

    it('serves every useradm, deviceauth and inventory operation of the specs but those listed in gaps.ts', () => {
      const served = menderRoutes(t).map((r) => ({ method: r.method, segments: templateShape(r.url).split('/') }));
      // A served `/users/:id` also answers the spec's `/users/me`.
      const serves = (method: string, template: string) => {
        const want = templateShape(template).split('/');
        return served.some(
          (r) =>
            r.method === method &&
            r.segments.length === want.length &&
            r.segments.every((segment, i) => segment === want[i] || segment === '{}'),
        );
      };
      const unserved = contract()
        .operations.filter((op) => /^(useradm|deviceauth|inventory)-/.test(op.file))
        .filter((op) => !serves(op.method, op.template))
        .map((op) => `${op.method} ${op.template}`);
      assert.deepEqual(unserved.sort(), Object.keys(notImplemented).sort());
    });

    it('generates an OpenAPI 3.0 document that lists every Mender route', () => {
      assert.match(doc.openapi, /^3\.0\.\d+$/);
      assert.equal(typeof doc.info?.title, 'string');
      assert.equal(typeof doc.info?.version, 'string');
      const listed = new Set<string>();
      for (const [path, item] of Object.entries(doc.paths ?? {})) {
        for (const method of Object.keys(item)) {
          if (HTTP_METHODS.includes(method)) listed.add(`${method.toUpperCase()} ${templateShape(path)}`);
        }
      }
      const unlisted = menderRoutes(t)
        .map((r) => `${r.method} ${templateShape(r.url)}`)
        .filter((key) => !listed.has(key));
      assert.deepEqual(unlisted, [], 'routes missing from /api/openapi.json');
      assert.ok(!listed.has('GET /api/openapi.json'), 'the document itself is hidden');
    });

    it('declares every path parameter and at least one response per operation', () => {
      const problems: string[] = [];
      for (const [path, item] of Object.entries(doc.paths ?? {})) {
        const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
        for (const [method, operation] of Object.entries(item)) {
          if (!HTTP_METHODS.includes(method)) continue;
          const label = `${method.toUpperCase()} ${path}`;
          if (!operation.responses || Object.keys(operation.responses).length === 0)
            problems.push(`${label}: no responses`);
          for (const name of names) {
            const parameter = operation.parameters?.find((p) => p.in === 'path' && p.name === name);
            if (!parameter?.required) problems.push(`${label}: path parameter ${name} not declared as required`);
          }
        }
      }
      assert.deepEqual(problems, []);
    });

    it('passes the OpenAPI 3.0 validator (openapi-spec-validator)', (ctx) => {
      const script =
        'import json, sys\nfrom openapi_spec_validator import validate\nvalidate(json.load(sys.stdin))\nprint("valid")';
      const probe = spawnSync('python3', ['-c', 'import openapi_spec_validator'], { encoding: 'utf8' });
      if (probe.status !== 0) {
        ctx.skip('python3 with openapi-spec-validator is not installed');
        return;
      }
      const run = spawnSync('python3', ['-c', script], { input: JSON.stringify(doc), encoding: 'utf8' });
      assert.equal(run.status, 0, `${run.stderr}`.slice(-3000));
      assert.equal(run.stdout.trim(), 'valid');
    });
  });
}
