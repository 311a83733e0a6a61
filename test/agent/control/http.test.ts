// The local HTTP twin of SetUpdateControlMap: set, list, delete, and refusals that leave the pool as it was.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ManualClock, serveUpdateControlHttp, UpdateControl } from '../../../src/agent/control/index.js';

const app = '01234567-89ab-cdef-0123-456789abcdef';

describe('local HTTP update control API', () => {
  let clock: ManualClock;
  let control: UpdateControl;
  let server: Awaited<ReturnType<typeof serveUpdateControlHttp>>;

  before(async () => {
    clock = new ManualClock();
    control = new UpdateControl({ pollIntervalSeconds: 45, clock });
    server = await serveUpdateControlHttp(control, { port: 0 });
  });
  after(async () => {
    await server?.close();
    control?.close();
  });

  async function call(method: string, path: string, body?: string, contentType = 'application/json') {
    const response = await fetch(`${server.url}${path}`, {
      method,
      body,
      headers: body === undefined ? {} : { 'content-type': contentType },
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  }

  it('listens on 127.0.0.1 only', () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(server.port > 0);
  });

  it('PUT sets a map and answers with the refresh time; GET lists it', async () => {
    const map = { id: app, priority: 1, states: { ArtifactInstall_Enter: { action: 'pause' } } };
    assert.deepEqual(await call('PUT', '/v1/update-control-map', JSON.stringify(map)), {
      status: 200,
      body: { refresh_timeout: 45 },
    });
    const listed = await call('GET', '/v1/update-control-maps');
    assert.equal(listed.status, 200);
    assert.equal(listed.body.refresh_timeout, 45);
    assert.deepEqual(listed.body.maps, [
      {
        id: app,
        priority: 1,
        states: { ArtifactInstall_Enter: { action: 'pause', on_map_expire: 'fail', on_action_executed: 'pause' } },
        expired: false,
        expires_at: new Date(clock.now() + 90_000).toISOString(),
      },
    ]);
    assert.equal(control.decide('ArtifactInstall_Enter'), 'pause');
  });

  it('POST works the same; the map shows as expired after 2 × the refresh time', async () => {
    const map = { id: app, priority: 2, states: { ArtifactCommit_Enter: { action: 'fail' } } };
    assert.equal((await call('POST', '/v1/update-control-map', JSON.stringify(map))).status, 200);
    await clock.advance(90_000);
    const listed = await call('GET', '/v1/update-control-maps');
    assert.deepEqual(
      listed.body.maps.map((m: { priority: number; expired: boolean }) => [m.priority, m.expired]),
      [
        [1, true],
        [2, true],
      ],
    );
  });

  for (const [what, body, status, contentType] of [
    ['invalid JSON', '{"id":', 400, 'application/json'],
    ['an invalid map', JSON.stringify({ id: app, priority: 99, states: {} }), 400, 'application/json'],
    ['a map with an unknown field', JSON.stringify({ id: app, states: {}, x: 1 }), 400, 'application/json'],
    ['a body over 64 KiB', JSON.stringify({ id: app, pad: 'x'.repeat(70_000) }), 413, 'application/json'],
    ['a non-JSON content type', JSON.stringify({ id: app, states: {} }), 415, 'text/plain'],
  ] as const) {
    it(`refuses ${what} with ${status} and changes nothing`, async () => {
      const before = control.maps();
      const response = await call('PUT', '/v1/update-control-map', body, contentType);
      assert.equal(response.status, status);
      assert.equal(typeof response.body.error, 'string');
      assert.deepEqual(control.maps(), before);
    });
  }

  it('DELETE removes one id and priority', async () => {
    assert.equal((await call('DELETE', `/v1/update-control-map/${app}?priority=2`)).status, 204);
    assert.deepEqual(
      control.maps().map((m) => m.priority),
      [1],
    );
    assert.equal((await call('DELETE', `/v1/update-control-map/${app}?priority=x`)).status, 400);
    assert.equal((await call('DELETE', '/v1/update-control-map/not-a-uuid')).status, 400);
    assert.equal(control.maps().length, 1);
  });

  it('unknown routes are 404, wrong methods 405', async () => {
    assert.equal((await call('GET', '/v1/nothing')).status, 404);
    assert.equal((await call('GET', '/v1/update-control-map')).status, 405);
    assert.equal((await call('POST', '/v1/update-control-maps', '{}')).status, 405);
  });

  it('a lying content-length larger than the limit is refused before reading', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.url}/v1/update-control-map`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', 'content-length': String(10 * 1024 * 1024) },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', reject);
      req.write('{');
    });
    assert.equal(status, 413);
  });
});
