// The contract checker itself: it must pass what the spec allows and catch what it does not, so that the route
// scenarios cannot pass by a checker that accepts everything. No store involved.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { stringify } from 'yaml';
import {
  Contract,
  ContractViolation,
  contract,
  contractInject,
  specsMissing,
  templateShape,
} from '../support/contract.js';

const JSON_TYPE = { 'content-type': 'application/json; charset=utf-8' };
const json = (value: unknown) => JSON.stringify(value);
const DEVICE_URL = '/api/management/v2/devauth/devices/0b9f2f3c-8a3e-4c64-9a36-6f1b0f0a0c11';

describe('contract checker on the official specs', { skip: specsMissing }, () => {
  const specs = new Contract();

  it('indexes every operation of every flat spec', () => {
    assert.ok(specs.operations.length > 100);
    assert.ok(specs.findTemplate('POST', '/api/devices/v1/authentication/auth_requests'));
    assert.ok(specs.findTemplate('GET', '/api/management/v1/inventory/devices/:id'));
    assert.equal(specs.findTemplate('PATCH', '/api/management/v1/useradm/users/:id'), undefined);
  });

  it('matches path templates, a literal segment winning over a parameter', () => {
    assert.equal(
      specs.find('GET', '/api/management/v1/useradm/users/me')?.template,
      '/api/management/v1/useradm/users/me',
    );
    assert.equal(
      specs.find('GET', '/api/management/v1/useradm/users/abc')?.template,
      '/api/management/v1/useradm/users/{id}',
    );
    assert.equal(
      specs.find('GET', '/api/management/v2/devauth/devices/count?status=accepted')?.template,
      '/api/management/v2/devauth/devices/count',
    );
    assert.equal(
      specs.find('GET', '/api/management/v2/devauth/devices/a/auth/b/status')?.template,
      '/api/management/v2/devauth/devices/{id}/auth/{aid}/status',
    );
    assert.equal(specs.find('GET', '/api/management/v2/devauth/devices/a/b'), undefined);
  });

  it('passes a response that conforms', () => {
    const device = {
      id: 'd1',
      identity_data: { mac: '00:01:02:03:04:05', anything: 'else' },
      status: 'accepted',
      created_ts: '2026-01-02T03:04:05.678Z',
      updated_ts: '2026-01-02T03:04:05Z',
      auth_sets: [{ id: 'a1', pubkey: 'PEM', status: 'accepted', ts: '2026-01-02T03:04:05Z', identity_data: {} }],
      decommissioning: false,
      not_in_the_spec: 1,
    };
    assert.deepEqual(specs.checkResponse('GET', DEVICE_URL, 200, JSON_TYPE, json(device)).mismatches, []);
    assert.deepEqual(
      specs.checkResponse('GET', DEVICE_URL, 404, JSON_TYPE, json({ error: 'not found' })).mismatches,
      [],
    );
    assert.deepEqual(specs.checkResponse('DELETE', DEVICE_URL, 204, {}, '').mismatches, []);
  });

  it('reports a wrong type, a bad enum value and a bad date-time, each with its place', () => {
    const bad = { id: 7, status: 'bogus', created_ts: 'yesterday', auth_sets: [{ id: 'a', ts: 3 }] };
    const { mismatches } = specs.checkResponse('GET', DEVICE_URL, 200, JSON_TYPE, json(bad));
    assert.equal(mismatches.length, 4, mismatches.join('\n'));
    assert.match(mismatches.join('\n'), /\/id must be string \(got 7\)/);
    assert.match(mismatches.join('\n'), /\/status must be equal to one of the allowed values/);
    assert.match(mismatches.join('\n'), /\/created_ts must match format "date-time"/);
    assert.match(mismatches.join('\n'), /\/auth_sets\/0\/ts must be string/);
  });

  it('reports a missing required field', () => {
    const url = '/api/management/v2/devauth/devices/d/auth/a/status';
    assert.deepEqual(specs.checkResponse('GET', url, 200, JSON_TYPE, json({ status: 'pending' })).mismatches, []);
    const { mismatches } = specs.checkResponse('GET', url, 200, JSON_TYPE, json({ state: 'pending' }));
    assert.deepEqual(mismatches, [`body (root) must have required property 'status': "status"`]);
    const error = specs.checkResponse('GET', DEVICE_URL, 404, JSON_TYPE, json({ message: 'not found' }));
    assert.match(error.mismatches.join(), /required property 'error'/);
  });

  it('reports an undeclared status, but accepts the common 401/403/429/500 with an Error body', () => {
    const conflict = specs.checkResponse('GET', DEVICE_URL, 409, JSON_TYPE, json({ error: 'x' }));
    assert.deepEqual(conflict.mismatches, ['status 409 is not declared (declared: 200, 404, 500)']);
    for (const status of [401, 403, 429]) {
      assert.deepEqual(specs.checkResponse('GET', DEVICE_URL, status, JSON_TYPE, json({ error: 'no' })).mismatches, []);
      assert.equal(specs.checkResponse('GET', DEVICE_URL, status, JSON_TYPE, json({ err: 'no' })).mismatches.length, 1);
    }
  });

  it('reports the wrong content type, a body where none is declared, and a missing body', () => {
    const text = specs.checkResponse('GET', DEVICE_URL, 404, { 'content-type': 'text/plain' }, 'not found');
    assert.deepEqual(text.mismatches, ['Content-Type text/plain; spec declares application/json for 404']);
    const extra = specs.checkResponse('DELETE', DEVICE_URL, 204, JSON_TYPE, json({ ok: true }));
    assert.match(extra.mismatches.join(), /spec declares no body for 204, got 11 bytes/);
    const none = specs.checkResponse('GET', DEVICE_URL, 200, JSON_TYPE, '');
    assert.match(none.mismatches.join(), /spec declares a body \(application\/json\) for 200, got none/);
    const notJson = specs.checkResponse('GET', DEVICE_URL, 200, JSON_TYPE, '{"id":');
    assert.match(notJson.mismatches.join(), /body is not JSON/);
    const untyped = specs.checkResponse('GET', DEVICE_URL, 200, {}, json({ id: 'x' }));
    assert.match(untyped.mismatches.join(), /no Content-Type/);
  });

  it('allows the Error body on an error status whose body the spec leaves undescribed, and nothing else', () => {
    const url = '/api/management/v1/useradm/settings';
    assert.deepEqual(specs.checkResponse('POST', url, 412, JSON_TYPE, json({ error: 'etag mismatch' })).mismatches, []);
    assert.deepEqual(specs.checkResponse('POST', url, 412, {}, '').mismatches, []);
    assert.match(specs.checkResponse('POST', url, 412, JSON_TYPE, json({ etag: 1 })).mismatches.join(), /'error'/);
    const text = specs.checkResponse('POST', url, 412, { 'content-type': 'text/plain' }, 'etag mismatch');
    assert.match(text.mismatches.join(), /Content-Type text\/plain/);
    assert.match(specs.checkResponse('POST', url, 201, JSON_TYPE, json({})).mismatches.join(), /no body for 201/);
  });

  it('reports a route that no spec has', () => {
    const { operation, mismatches } = specs.checkResponse('GET', '/api/management/v1/nothing', 200, JSON_TYPE, '{}');
    assert.equal(operation, undefined);
    assert.deepEqual(mismatches, ['no operation GET /api/management/v1/nothing in any spec']);
  });

  it('reads non-JSON media with a string schema as text (login answers application/jwt)', () => {
    const url = '/api/management/v1/useradm/auth/login';
    assert.deepEqual(
      specs.checkResponse('POST', url, 200, { 'content-type': 'application/jwt' }, 'a.b.c').mismatches,
      [],
    );
    const bad = specs.checkResponse('POST', url, 200, { 'content-type': 'text/plain' }, 'a.b.c');
    assert.equal(bad.mismatches.length, 1);
  });

  it('applies the written deviations only in the default contract', () => {
    const url = '/api/devices/v1/authentication/auth_requests';
    const jwt = { 'content-type': 'application/jwt' };
    assert.equal(specs.checkResponse('POST', url, 200, jwt, 'a.b.c').mismatches.length, 1);
    assert.deepEqual(contract().checkResponse('POST', url, 200, jwt, 'a.b.c').mismatches, []);
    const emptyArray = json([{ id: 'd', attributes: [{ name: 'n', scope: 'inventory', value: [] }] }]);
    const inventory = '/api/management/v1/inventory/devices';
    assert.equal(specs.checkResponse('GET', inventory, 200, JSON_TYPE, emptyArray).mismatches.length > 0, true);
    assert.deepEqual(contract().checkResponse('GET', inventory, 200, JSON_TYPE, emptyArray).mismatches, []);
    const mixed = json([{ id: 'd', attributes: [{ name: 'n', scope: 'inventory', value: ['a', 1] }] }]);
    assert.ok(contract().checkResponse('GET', inventory, 200, JSON_TYPE, mixed).mismatches.length > 0);
  });

  it('normalises route parameters of both notations', () => {
    assert.equal(templateShape('/a/:id/b/{aid}'), '/a/{}/b/{}');
  });
});

describe('contract checker on OpenAPI 3.0 features', () => {
  let dir: string;
  let specs: Contract;
  const url = '/api/management/v1/thing/t1';

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-contract-'));
    const doc = {
      openapi: '3.0.1',
      info: { title: 'Thing', version: '1' },
      paths: {
        '/api/management/v1/thing/{id}': {
          get: {
            responses: {
              '200': { content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' } } } },
              '4XX': { $ref: '#/components/responses/Problem' },
              default: { description: 'anything else', content: { 'text/plain': { schema: { type: 'string' } } } },
            },
          },
          put: {
            requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' } } } },
            responses: { '204': { description: 'ok' } },
          },
        },
      },
      components: {
        responses: { Problem: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } } },
        schemas: {
          Error: { type: 'object', required: ['error'], properties: { error: { type: 'string' } } },
          Thing: {
            type: 'object',
            required: ['id', 'secret', 'size'],
            additionalProperties: false,
            properties: {
              id: { type: 'string', readOnly: true },
              secret: { type: 'string', writeOnly: true },
              size: { type: 'integer', minimum: 0, exclusiveMinimum: true },
              note: { type: 'string', nullable: true, example: 'x' },
              kind: { type: 'string', enum: ['a', 'b'], nullable: true },
              parent: { allOf: [{ $ref: '#/components/schemas/Ref' }], nullable: true },
              link: { $ref: '#/components/schemas/Ref', description: 'a sibling of $ref, ignored in OpenAPI 3.0' },
            },
          },
          Ref: { type: 'object', required: ['id'], properties: { id: { type: 'string', format: 'uuid' } } },
        },
      },
    };
    writeFileSync(join(dir, 'thing.yml'), stringify(doc));
    specs = new Contract({ dir });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const check = (status: number, body: unknown, headers: Record<string, string> = JSON_TYPE) =>
    specs.checkResponse('GET', url, status, headers, typeof body === 'string' ? body : json(body)).mismatches;

  it('honours nullable, readOnly/writeOnly, boolean exclusiveMinimum, $ref siblings and formats', () => {
    assert.deepEqual(check(200, { id: 't1', size: 1, note: null, kind: null, parent: null }), []);
    assert.deepEqual(
      check(200, { id: 't1', size: 1, kind: 'a', link: { id: '0b9f2f3c-8a3e-4c64-9a36-6f1b0f0a0c11' } }),
      [],
    );
    assert.match(check(200, { id: 't1', size: 0 }).join(), /\/size must be > 0/);
    assert.match(check(200, { id: 't1', size: 1, kind: 'c' }).join(), /\/kind must be equal to one of the allowed/);
    assert.match(check(200, { id: 't1', size: 1, link: { id: 'nope' } }).join(), /\/link\/id must match format "uuid"/);
    assert.match(check(200, { size: 1 }).join(), /required property 'id'/);
    assert.match(check(200, { id: 't1', size: 1, parent: {} }).join(), /\/parent/);
  });

  it('enforces additionalProperties only where the spec says so', () => {
    assert.deepEqual(check(200, { id: 't1', size: 1, extra: 1 }), [
      `body (root) must NOT have additional properties: "extra"`,
    ]);
  });

  it('uses ranges, response $refs and default', () => {
    assert.deepEqual(check(418, { error: 'teapot' }), []);
    assert.match(check(418, { message: 'teapot' }).join(), /required property 'error'/);
    assert.deepEqual(check(503, 'down', { 'content-type': 'text/plain' }), []);
  });

  it('checks request bodies in the request direction (readOnly not required, writeOnly required)', () => {
    const put = specs.find('PUT', url)!;
    assert.deepEqual(specs.checkRequest(put, 'application/json', { secret: 's', size: 2 }), []);
    assert.match(
      specs.checkRequest(put, 'application/json', { size: 2 }).join(),
      /request body \(root\) must have required property 'secret'/,
    );
    assert.match(specs.checkRequest(put, 'text/plain', 'x').join(), /request Content-Type text\/plain/);
  });
});

describe('contractInject', { skip: specsMissing }, () => {
  let app: FastifyInstance;
  const users = '/api/management/v1/useradm/users';
  const user = { id: 'u1', email: 'a@example.com', created_ts: '2026-01-01T00:00:00Z' };

  before(async () => {
    app = Fastify();
    app.get(`${users}/good`, async () => user);
    app.get(`${users}/bad`, async () => ({ id: 1 }));
    app.post(users, async (_request, reply) => reply.status(201).header('location', `${users}/u1`).send());
    app.delete(`${users}/:id`, async (_request, reply) => reply.status(200).send({ deleted: true }));
    await app.ready();
  });
  after(() => app.close());

  it('returns the response when it conforms', async () => {
    const res = await contractInject(app, { method: 'GET', url: `${users}/good` });
    assert.equal(res.json().email, user.email);
  });

  it('throws a readable error listing every mismatch', async () => {
    await assert.rejects(contractInject(app, { method: 'GET', url: `${users}/bad` }), (error: unknown) => {
      assert.ok(error instanceof ContractViolation);
      assert.match(error.message, /^GET \/api\/management\/v1\/useradm\/users\/bad -> 200 does not match the spec:/);
      assert.match(error.message, /- body \/id must be string \(got 1\)/);
      assert.match(error.message, /- body \(root\) must have required property 'email'/);
      assert.equal(error.mismatches.length, 2);
      return true;
    });
    await assert.rejects(contractInject(app, { method: 'DELETE', url: `${users}/u1` }), /status 200 is not declared/);
  });

  it('checks the body of a request the server accepted, unless told it is invalid on purpose', async () => {
    const good = { email: 'b@example.com', password: 'long enough' };
    assert.equal((await contractInject(app, { method: 'POST', url: users, payload: good })).statusCode, 201);
    await assert.rejects(
      contractInject(app, { method: 'POST', url: users, payload: { email: 'b@example.com' } }),
      /request body \(root\) must have required property 'password'/,
    );
    const res = await contractInject(app, { method: 'POST', url: users, payload: {} }, { invalidRequest: true });
    assert.equal(res.statusCode, 201);
  });

  it('refuses an undocumented route that deviations.ts does not list', async () => {
    await assert.rejects(
      contractInject(app, { method: 'GET', url: '/api/management/v1/nothing' }, { undocumented: true }),
      /no entry in test\/contract\/deviations.ts/,
    );
  });
});
