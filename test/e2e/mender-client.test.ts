// End to end with the real mender-client 3.4: three daemons ask a running `flotilla serve` to be admitted, an admin
// accepts them over the management API, and each device then holds a token and reports its inventory. Runs once
// on SQLite and once on a fresh PostgreSQL database. Fails (never skips) when the client is not installed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { dialects } from '../support/app.js';
import {
  INVENTORY_ATTRIBUTE,
  type MenderClient,
  type MenderFleet,
  requireMender,
  startMenderClients,
} from '../support/mender-client.js';
import { callApi, type FlotillaServer, startFlotilla } from './flotilla-server.js';
import { AbortWait, waitFor } from './process.js';

const CLIENTS = 3;

interface AuthSet {
  id: string;
  identity_data: Record<string, unknown>;
  pubkey: string;
  status: string;
}
interface Device {
  id: string;
  identity_data: Record<string, unknown>;
  status: string;
  auth_sets: AuthSet[];
}
interface Attribute {
  name: string;
  scope: string;
  value: unknown;
}

for (const dialect of dialects) {
  describe(`mender-client 3.4 against flotilla serve on ${dialect}`, () => {
    let server: FlotillaServer | undefined;
    let fleet: MenderFleet | undefined;
    let token = '';
    let failed = false;
    /** Device of each client, by the client's label, as first seen pending. */
    const devices = new Map<string, Device>();

    // Every step depends on the one before; a failure prints what the server and the clients said.
    const step = (name: string, body: () => Promise<void>) =>
      it(name, async () => {
        assert.ok(!failed, 'an earlier step failed');
        try {
          await body();
        } catch (error) {
          failed = true;
          process.stderr.write(`\n=== ${dialect}: "${name}" failed ===\n`);
          if (server) process.stderr.write(`--- flotilla log ---\n${server.logTail()}\n`);
          if (fleet) process.stderr.write(`${fleet.logTails()}\n`);
          throw error;
        }
      });

    const api = (method: string, path: string, body?: unknown) => callApi(server!.url, token, method, path, body);

    async function listDevices(): Promise<Device[]> {
      const res = await api('GET', '/api/management/v2/devauth/devices?per_page=500');
      // Devices arriving late is worth waiting for; a list route that fails is not.
      if (res.status !== 200) throw new AbortWait(`list devices: ${res.status} ${JSON.stringify(res.json)}`);
      assert.ok(Array.isArray(res.json), 'the device list is an array');
      return res.json as Device[];
    }

    /** Fails the wait at once when a client died: waiting longer cannot help. */
    function assertAlive(clients: MenderClient[]): void {
      for (const c of clients) if (c.exited) throw new AbortWait(`mender ${c.label} exited (${c.exited})`);
    }

    before(async () => {
      requireMender();
      server = await startFlotilla(dialect);
      fleet = await startMenderClients({
        serverUrl: server.url,
        tenantToken: server.tenantToken,
        count: CLIENTS,
        logLevel: (process.env.FLOTILLA_E2E_MENDER_LOG as 'debug' | undefined) ?? 'info',
      });
    });

    after(async () => {
      await fleet?.stop();
      await server?.stop();
    });

    step('the admin logs in with Basic auth', async () => {
      const basic = Buffer.from(`${server!.adminEmail}:${server!.adminPassword}`).toString('base64');
      const res = await fetch(`${server!.url}/api/management/v1/useradm/auth/login`, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}` },
      });
      token = await res.text();
      assert.equal(res.status, 200, `login: ${token}`);
      assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'login answers a bare JWT');
    });

    step('each client arrives pending with its identity data and its own key', async () => {
      const clients = fleet!.clients;
      const found = await waitFor('every client to appear in the device list', async () => {
        assertAlive(clients);
        const list = await listDevices();
        const byMac = clients.map((c) => list.find((d) => d.identity_data?.mac === c.mac));
        return byMac.every(Boolean) ? { list, byMac: byMac as Device[] } : undefined;
      });
      // Clients retry while pending: the server must recognise them, not add a device or an auth set each time.
      assert.equal(found.list.length, CLIENTS, 'one device per client');
      const keys = new Set<string>();
      clients.forEach((client, i) => {
        const device = found.byMac[i];
        assert.equal(device.status, 'pending', `${client.label} is pending`);
        assert.deepEqual(device.identity_data, { mac: client.mac });
        assert.equal(device.auth_sets.length, 1, `${client.label} has one auth set`);
        const [authSet] = device.auth_sets;
        assert.equal(authSet.status, 'pending');
        assert.deepEqual(authSet.identity_data, { mac: client.mac });
        assert.match(authSet.pubkey, /^-----BEGIN PUBLIC KEY-----\n[\s\S]+\n-----END PUBLIC KEY-----\n?$/);
        keys.add(authSet.pubkey);
        devices.set(client.label, device);
      });
      assert.equal(keys.size, CLIENTS, 'every client generated its own key');
      // While pending the client was refused (401) and keeps asking; it has no token yet.
      for (const client of clients) assert.doesNotMatch(client.log(), /successfully received new authorization data/);
    });

    step('accepting each auth set lets its client fetch a token', async () => {
      const clients = fleet!.clients;
      for (const client of clients) {
        const device = devices.get(client.label)!;
        const path = `/api/management/v2/devauth/devices/${device.id}/auth/${device.auth_sets[0].id}/status`;
        const res = await api('PUT', path, { status: 'accepted' });
        assert.equal(res.status, 204, `accept ${client.label}: ${JSON.stringify(res.json)}`);
        const status = await api('GET', path);
        assert.equal(status.status, 200);
        assert.deepEqual(status.json, { status: 'accepted' });
        const got = await api('GET', `/api/management/v2/devauth/devices/${device.id}`);
        assert.equal(got.status, 200);
        assert.equal((got.json as Device).status, 'accepted', `${client.label}'s device is accepted`);
      }
      // SIGUSR2 ends the client's retry wait; its next auth request must now answer 200 with a token.
      for (const client of clients) client.signal('SIGUSR2');
      await waitFor('every client to receive its token', () => {
        assertAlive(clients);
        return clients.every((c) => /successfully received new authorization data/.test(c.log())) || undefined;
      });
      const list = await listDevices();
      assert.equal(list.length, CLIENTS, 'admission added no device');
      for (const device of list) assert.equal(device.status, 'accepted');
    });

    step("each device's inventory shows what its client reported", async () => {
      const clients = fleet!.clients;
      for (const client of clients) {
        const device = devices.get(client.label)!;
        const wanted = ['device_type', 'artifact_name', INVENTORY_ATTRIBUTE];
        const attributes = await waitFor(
          `the inventory of ${client.label}`,
          async () => {
            assertAlive(clients);
            const res = await api('GET', `/api/management/v1/inventory/devices/${device.id}`);
            if (res.status === 404) {
              client.signal('SIGUSR2');
              return undefined;
            }
            assert.equal(res.status, 200, `inventory of ${client.label}: ${JSON.stringify(res.json)}`);
            const body = res.json as { id: string; attributes: Attribute[] };
            assert.equal(body.id, device.id);
            const names = new Set(body.attributes.filter((a) => a.scope === 'inventory').map((a) => a.name));
            if (!wanted.every((n) => names.has(n))) {
              client.signal('SIGUSR2');
              return undefined;
            }
            return body.attributes;
          },
          { intervalMs: 1000 },
        );
        const value = (scope: string, name: string) =>
          attributes.find((a) => a.scope === scope && a.name === name)?.value;
        assert.equal(value('inventory', 'device_type'), fleet!.deviceType);
        assert.equal(value('inventory', 'artifact_name'), fleet!.artifactName);
        assert.equal(value('inventory', INVENTORY_ATTRIBUTE), client.label, 'the inventory script of this client ran');
        assert.equal(value('identity', 'mac'), client.mac, 'identity attributes are part of the inventory');
      }
    });
  });
}
