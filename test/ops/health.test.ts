// /health and /ready: liveness always answers; readiness is 200 with every check ok, and 503 naming the failing
// check when the database is gone, the blob folder cannot be written, or the configured MQTT broker is not reachable.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { dialects, type TestApp, testApp } from '../support/app.js';

const ready = (t: TestApp) => t.app.inject({ method: 'GET', url: '/ready' });

for (const dialect of dialects) {
  describe(`health and readiness (${dialect})`, () => {
    let t: TestApp;
    before(async () => {
      t = await testApp(dialect);
    });
    after(() => t.close());

    it('is live and ready with no credentials', async () => {
      const health = await t.app.inject({ method: 'GET', url: '/health' });
      assert.equal(health.statusCode, 200);
      assert.deepEqual(health.json(), { status: 'ok' });
      const res = await ready(t);
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), {
        status: 'ready',
        checks: { server: 'ok', database: 'ok', blobs: 'ok', broker: 'off' },
      });
    });

    it('is not ready once shutdown has begun', async () => {
      t.app.shuttingDown = true;
      try {
        const res = await ready(t);
        assert.equal(res.statusCode, 503);
        assert.equal(res.json().checks.server, 'shutting down');
      } finally {
        t.app.shuttingDown = false;
      }
    });

    it('is not ready while the blob folder cannot take files', async () => {
      const blobs = join(t.config.dataDir, 'blobs');
      rmSync(blobs, { recursive: true, force: true });
      writeFileSync(blobs, 'not a folder');
      try {
        const res = await ready(t);
        assert.equal(res.statusCode, 503);
        const body = res.json();
        assert.equal(body.status, 'unavailable');
        assert.equal(body.checks.database, 'ok');
        assert.match(body.checks.blobs, /ENOTDIR|EEXIST/);
      } finally {
        rmSync(blobs, { force: true });
      }
      assert.equal((await ready(t)).statusCode, 200);
    });
  });
}

describe('readiness of the database and the broker', () => {
  it('is not ready once the database is closed', async () => {
    const t = await testApp(dialects[0]);
    try {
      await t.app.ready();
      await t.services.store.close();
      const res = await ready(t);
      assert.equal(res.statusCode, 503);
      assert.equal(res.json().checks.blobs, 'ok');
      assert.notEqual(res.json().checks.database, 'ok');
      assert.equal((await t.app.inject({ method: 'GET', url: '/health' })).statusCode, 200);
    } finally {
      await t.close().catch(() => undefined);
    }
  });

  it('is not ready while the external MQTT broker cannot be reached', async () => {
    // Port 9 (discard) on loopback: nothing listens there on a test machine, so the connection is refused.
    const t = await testApp(dialects[0], { mqttUrl: 'mqtt://127.0.0.1:9' });
    try {
      await t.app.ready();
      const res = await ready(t);
      assert.equal(res.statusCode, 503);
      assert.equal(res.json().checks.database, 'ok');
      assert.match(res.json().checks.broker, /not connected to mqtt:\/\/127\.0\.0\.1:9/);
    } finally {
      await t.close();
    }
  });

  it('is ready with the embedded broker listening', async () => {
    const t = await testApp(dialects[0], { mqttPort: 0 });
    try {
      await t.app.ready();
      const res = await ready(t);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().checks.broker, 'ok');
    } finally {
      await t.close();
    }
  });
});
