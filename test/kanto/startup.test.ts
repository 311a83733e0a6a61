// Kanto at start-up: a taken MQTT port (Mosquitto on 1883 on this machine) or an external broker that cannot be
// reached never keeps the HTTP server from serving; the broker starts and stops with the app.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { describe, it } from 'node:test';
import { adminToken, dialects, testApp } from '../support/app.js';
import { call, KANTO, uniqueThing } from './support.js';

async function occupiedPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  return { port: typeof address === 'object' && address ? address.port : 0, server };
}

for (const dialect of dialects) {
  describe(`Kanto start-up (${dialect})`, () => {
    it('serves HTTP without Kanto when the embedded broker port is taken', async () => {
      const { port, server } = await occupiedPort();
      const t = await testApp(dialect, { mqttPort: port });
      try {
        await t.app.ready();
        assert.equal(t.app.kanto.broker, undefined, 'no broker');
        const token = await adminToken(t);
        const thing = await call(t, token, 'POST', `${KANTO}/devices`, { thing_id: uniqueThing() });
        assert.equal(thing.statusCode, 201, 'management still works');
        const refresh = await call(t, token, 'POST', `${KANTO}/devices/${thing.json().device_id}/refresh`);
        assert.equal(refresh.statusCode, 409);
      } finally {
        await t.close();
        server.close();
      }
    });

    it('starts with an external broker that cannot be reached, and closes cleanly', async () => {
      const { port, server } = await occupiedPort();
      server.close(); // a port nobody listens on
      const t = await testApp(dialect, { mqttUrl: `mqtt://127.0.0.1:${port}` });
      try {
        await t.app.ready();
        assert.equal(t.app.kanto.broker?.kind, 'external');
        const res = await t.app.inject({ method: 'GET', url: '/api/openapi.json' });
        assert.equal(res.statusCode, 200);
      } finally {
        await t.close();
      }
      assert.equal(t.app.kanto.broker, undefined, 'stopped with the app');
    });
  });
}
