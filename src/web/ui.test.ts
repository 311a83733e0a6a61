// Serving the web UI: files of the build, the app shell for client routes, a clear page when the build is missing,
// and never in the way of the APIs (whose paths keep their own auth and JSON errors).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { type TestApp, testApp } from '../../test/support/app.js';
import { webUiRoutes } from './ui.js';

const SHELL = '<!doctype html><title>shell</title>';

async function serving(root: string): Promise<FastifyInstance> {
  const app = Fastify();
  await app.register(webUiRoutes, { root });
  return app;
}

describe('the web UI files', () => {
  let dir: string;
  let app: FastifyInstance;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'flotilla-web-'));
    mkdirSync(join(dir, 'dist/assets'), { recursive: true });
    writeFileSync(join(dir, 'dist/index.html'), SHELL);
    writeFileSync(join(dir, 'dist/assets/app-1234.js'), 'console.log(1)');
    writeFileSync(join(dir, 'secret.txt'), 'outside the build');
    app = await serving(join(dir, 'dist/'));
  });
  after(async () => {
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('/ sends the browser to /ui/', async () => {
    const res = await app.inject('/');
    assert.equal(res.statusCode, 302);
    assert.equal(res.headers.location, '/ui/');
  });

  test('client routes get the app shell, never cached', async () => {
    for (const path of ['/ui/', '/ui/devices', '/ui/deployments/abc']) {
      const res = await app.inject(path);
      assert.equal(res.statusCode, 200, path);
      assert.equal(res.body, SHELL, path);
      assert.match(String(res.headers['content-type']), /^text\/html/);
      assert.equal(res.headers['cache-control'], 'no-cache');
    }
  });

  test('hashed assets are served as immutable; a missing one is a 404, not the shell', async () => {
    const res = await app.inject('/ui/assets/app-1234.js');
    assert.equal(res.statusCode, 200);
    assert.equal(res.body, 'console.log(1)');
    assert.match(String(res.headers['cache-control']), /immutable/);
    const missing = await app.inject('/ui/assets/app-0000.js');
    assert.equal(missing.statusCode, 404);
  });

  test('no path reaches outside the build', async () => {
    for (const path of ['/ui/../secret.txt', '/ui/..%2fsecret.txt', '/ui/%2e%2e/secret.txt', '/ui/.%2e/secret.txt']) {
      const res = await app.inject(path);
      assert.doesNotMatch(res.body, /outside the build/, path);
    }
  });

  test('without a build, /ui/ answers a clear page saying how to build it', async () => {
    const bare = await serving(join(dir, 'nothing-here/'));
    try {
      const res = await bare.inject('/ui/devices');
      assert.equal(res.statusCode, 503);
      assert.match(res.body, /web UI is not built/);
      assert.match(res.body, /npm install/);
    } finally {
      await bare.close();
    }
  });
});

describe('the web UI inside the app', () => {
  let t: TestApp;
  before(async () => {
    t = await testApp('sqlite');
  });
  after(() => t.close());

  test('the UI needs no token; the APIs keep theirs and their JSON errors', async () => {
    assert.equal((await t.app.inject('/')).statusCode, 302);
    assert.notEqual((await t.app.inject('/ui/devices')).statusCode, 401);
    const api = await t.app.inject('/api/management/v1/nothing');
    assert.equal(api.statusCode, 401);
    assert.match(String(api.headers['content-type']), /application\/json/);
    const elsewhere = await t.app.inject('/uix/devices');
    assert.equal(elsewhere.statusCode, 401, 'only /ui/ is open');
  });
});
