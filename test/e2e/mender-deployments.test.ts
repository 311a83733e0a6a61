// End to end with three real mender-client 3.4 daemons, on SQLite and on PostgreSQL:
// - an artifact made by the real `mender-artifact` (single-file update module, which Debian's mender-client ships)
//   is uploaded and deployed to a group; every client downloads it through a signed link, installs it with the real
//   update module and reports success; statistics, the devices of the deployment and each device's artifact_name in
//   inventory agree. Deploying it again ends already-installed.
// - an update module of ours that exits non-zero ends the device in `failure`, its log retrievable as text; with
//   `retries: 1` the client installs twice.
// - an update control map that pauses at ArtifactInstall_Enter stops every client in `pause_before_installing`
//   until a PATCH lets them continue to success (the artifact made by Flotilla's own `generate`).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  installScript,
  MARKER,
  type MenderFleet,
  requireMender,
  startMenderClients,
} from '../support/mender-client.js';
import { multipart } from '../support/multipart.js';
import { callApi, type FlotillaServer, startFlotilla } from './flotilla-server.js';
import { AbortWait, waitFor } from './process.js';

const CLIENTS = 3;
const D1 = '/api/management/v1/deployments';
const MODULE_TYPE = 'flotilla-e2e';
const MODULE_PATH = `/usr/share/mender/modules/v3/${MODULE_TYPE}`;

// An update module of ours (the v3 protocol: `$1` the state, `$2` the work directory with the payload in files/).
// Each client counts its installs and copies the payload to a folder of its own, so clients never share a path;
// a payload that holds a file named `fail` makes the install fail.
const MODULE_TEXT = `#!/bin/sh
# ${MARKER} (test/e2e/mender-deployments.test.ts): a test update module.
set -e
state="$1"
files="$2/files"
out="\${FLOTILLA_E2E_STATE:?}/\${FLOTILLA_E2E_CLIENT:?}"
case "$state" in
  ArtifactInstall)
    mkdir -p "$out"
    echo install >> "$out.attempts"
    if [ -e "$files/fail" ]; then
      echo "flotilla-e2e module: refusing to install on purpose" >&2
      exit 3
    fi
    cp "$files"/* "$out/"
    ;;
esac
exit 0
`;

const dialects = (process.env.FLOTILLA_TEST_DIALECTS ?? 'sqlite,postgres')
  .split(',')
  .filter((d): d is 'sqlite' | 'postgres' => d === 'sqlite' || d === 'postgres');

/** Writes a module-image artifact with the real mender-artifact; returns its bytes. */
function menderArtifact(dir: string, args: string[]): Buffer {
  const out = join(dir, `artifact-${Math.random().toString(16).slice(2)}.mender`);
  const res = spawnSync('mender-artifact', ['write', 'module-image', ...args, '-o', out], { encoding: 'utf8' });
  if (res.error || res.status !== 0) throw new Error(`mender-artifact failed: ${res.error ?? res.stderr}`);
  return readFileSync(out);
}

for (const dialect of dialects)
  describe(`deployments to three real mender-client 3.4 daemons (${dialect})`, () => {
    let server: FlotillaServer | undefined;
    let fleet: MenderFleet | undefined;
    let token = '';
    let failed = false;
    let destDir = '';
    let stateDir = '';
    let work = '';
    const deviceIds: string[] = [];
    let deploymentId = '';

    const step = (name: string, body: () => Promise<void>) =>
      it(name, async () => {
        assert.ok(!failed, 'an earlier step failed');
        try {
          await body();
        } catch (error) {
          failed = true;
          if (server) process.stderr.write(`--- flotilla log ---\n${server.logTail()}\n`);
          if (fleet) process.stderr.write(`${fleet.logTails()}\n`);
          throw error;
        }
      });

    const api = (method: string, path: string, body?: unknown) => callApi(server!.url, token, method, path, body);

    const poke = (signal: 'SIGUSR1' | 'SIGUSR2') => {
      for (const c of fleet!.clients) c.signal(signal);
    };

    async function statistics(id: string): Promise<Record<string, number>> {
      const res = await api('GET', `${D1}/deployments/${id}/statistics`);
      if (res.status !== 200) throw new AbortWait(`statistics: ${res.status} ${JSON.stringify(res.json)}`);
      return res.json;
    }

    before(async () => {
      requireMender();
      installScript(MODULE_PATH, MODULE_TEXT);
      destDir = mkdtempSync(join(tmpdir(), 'flotilla-e2e-installed-'));
      stateDir = mkdtempSync(join(tmpdir(), 'flotilla-e2e-module-'));
      work = mkdtempSync(join(tmpdir(), 'flotilla-e2e-artifacts-'));
      server = await startFlotilla(dialect);
      fleet = await startMenderClients({
        serverUrl: server.url,
        tenantToken: server.tenantToken,
        count: CLIENTS,
        env: { FLOTILLA_E2E_STATE: stateDir },
      });
    });
    after(async () => {
      await fleet?.stop();
      await server?.stop();
      for (const dir of [destDir, stateDir, work]) rmSync(dir, { recursive: true, force: true });
    });

    async function upload(artifact: Buffer, filename: string): Promise<void> {
      const body = multipart(
        { description: 'made by mender-artifact' },
        { field: 'artifact', filename, content: artifact },
      );
      const res = await fetch(`${server!.url}${D1}/artifacts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, ...body.headers },
        body: new Uint8Array(body.payload),
      });
      assert.equal(res.status, 201, await res.text());
    }

    async function deploy(body: Record<string, unknown>): Promise<string> {
      const created = await api('POST', `${D1}/deployments`, body);
      assert.equal(created.status, 201, JSON.stringify(created.json));
      return String(created.headers.get('location')).split('/').pop()!;
    }

    /** The device id of the client with this MAC address (its identity). */
    async function deviceOf(mac: string): Promise<string> {
      const list = (await api('GET', '/api/management/v2/devauth/devices?per_page=500')).json as {
        id: string;
        identity_data: { mac?: string };
      }[];
      const found = list.find((d) => d.identity_data.mac === mac);
      assert.ok(found, `no device with mac ${mac}`);
      return found.id;
    }

    /** Pokes the clients until `done` answers; a client that exited fails the wait. */
    async function pokeUntil<T>(what: string, done: () => Promise<T | undefined>): Promise<T> {
      return waitFor(
        what,
        async () => {
          for (const c of fleet!.clients) {
            if (c.exited) throw new AbortWait(`mender ${c.label} exited`);
            c.signal('SIGUSR1');
          }
          return done();
        },
        { timeoutMs: 120_000, intervalMs: 1000 },
      );
    }

    step('the clients are admitted and report their inventory', async () => {
      const basic = Buffer.from(`${server!.adminEmail}:${server!.adminPassword}`).toString('base64');
      const login = await fetch(`${server!.url}/api/management/v1/useradm/auth/login`, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}` },
      });
      token = await login.text();
      assert.equal(login.status, 200);
      const pending = await waitFor('every client to ask for admission', async () => {
        const list = (await api('GET', '/api/management/v2/devauth/devices?per_page=500')).json as {
          id: string;
          auth_sets: { id: string }[];
        }[];
        return list.length === CLIENTS ? list : undefined;
      });
      for (const device of pending) {
        const res = await api(
          'PUT',
          `/api/management/v2/devauth/devices/${device.id}/auth/${device.auth_sets[0].id}/status`,
          { status: 'accepted' },
        );
        assert.equal(res.status, 204);
        deviceIds.push(device.id);
      }
      poke('SIGUSR2');
      await waitFor('every device to report its device type', async () => {
        poke('SIGUSR2');
        for (const id of deviceIds) {
          const res = await api('GET', `/api/management/v1/inventory/devices/${id}`);
          const attrs = (res.json?.attributes ?? []) as { name: string; value: unknown }[];
          if (!attrs.some((a) => a.name === 'device_type')) return undefined;
        }
        return true;
      });
      for (const id of deviceIds) {
        assert.equal(
          (await api('PUT', `/api/management/v1/inventory/devices/${id}/group`, { group: 'e2e' })).status,
          204,
        );
      }
    });

    step('an artifact made by mender-artifact is deployed to the group and every client installs it', async () => {
      // The single-file update module's payload, as single-file-artifact-gen lays it out.
      const payload = join(work, 'single-file');
      mkdirSync(payload);
      writeFileSync(join(payload, 'hello.txt'), 'hello from a flotilla deployment\n');
      writeFileSync(join(payload, 'dest_dir'), destDir);
      writeFileSync(join(payload, 'filename'), 'hello.txt');
      writeFileSync(join(payload, 'permissions'), '644');
      const artifact = menderArtifact(work, [
        '-T',
        'single-file',
        '-n',
        'e2e-hello-1',
        '-t',
        fleet!.deviceType,
        ...['dest_dir', 'filename', 'permissions', 'hello.txt'].flatMap((f) => ['-f', join(payload, f)]),
      ]);
      await upload(artifact, 'e2e-hello-1.mender');
      const created = await api('POST', `${D1}/deployments/group/e2e`, {
        name: 'e2e rollout',
        artifact_name: 'e2e-hello-1',
      });
      assert.equal(created.status, 201, JSON.stringify(created.json));
      deploymentId = String(created.headers.get('location')).split('/').pop()!;
      await waitFor(
        'every device to report success',
        async () => {
          for (const c of fleet!.clients) {
            if (c.exited) throw new AbortWait(`mender ${c.label} exited`);
            c.signal('SIGUSR1');
            await new Promise((resolve) => setTimeout(resolve, 700));
          }
          const stats = await statistics(deploymentId);
          if (stats.failure > 0) throw new AbortWait(`a device failed: ${JSON.stringify(stats)}`);
          return stats.success === CLIENTS ? stats : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 1000 },
      );
      assert.equal(readFileSync(join(destDir, 'hello.txt'), 'utf8'), 'hello from a flotilla deployment\n');
      const deployment = (await api('GET', `${D1}/deployments/${deploymentId}`)).json;
      assert.equal(deployment.status, 'finished');
      const devices = (await api('GET', `${D1}/deployments/${deploymentId}/devices`)).json as {
        id: string;
        status: string;
      }[];
      assert.deepEqual(devices.map((d) => d.status).sort(), Array(CLIENTS).fill('success'));
      assert.deepEqual(devices.map((d) => d.id).sort(), [...deviceIds].sort());
      await waitFor('every device to report its new artifact_name', async () => {
        poke('SIGUSR2');
        for (const id of deviceIds) {
          const attrs = ((await api('GET', `/api/management/v1/inventory/devices/${id}`)).json?.attributes ?? []) as {
            name: string;
            value: unknown;
          }[];
          if (attrs.find((a) => a.name === 'artifact_name')?.value !== 'e2e-hello-1') return undefined;
        }
        return true;
      });
    });

    step('deploying the same artifact again ends already-installed on every device', async () => {
      const again = await api('POST', `${D1}/deployments`, {
        name: 'again',
        artifact_name: 'e2e-hello-1',
        devices: deviceIds,
      });
      assert.equal(again.status, 201, JSON.stringify(again.json));
      const id = String(again.headers.get('location')).split('/').pop()!;
      const stats = await waitFor('every device to answer already-installed', async () => {
        poke('SIGUSR1');
        const s = await statistics(id);
        return s['already-installed'] === CLIENTS ? s : undefined;
      });
      assert.equal(stats.success, 0);
    });

    step('an update module that fails ends in failure with the log as text, after the one retry allowed', async () => {
      const payload = join(work, 'broken');
      mkdirSync(payload);
      writeFileSync(join(payload, 'fail'), 'this payload is refused by the flotilla-e2e module\n');
      const artifact = menderArtifact(work, [
        '-T',
        MODULE_TYPE,
        '-n',
        'e2e-broken-1',
        '-t',
        fleet!.deviceType,
        '-f',
        join(payload, 'fail'),
      ]);
      await upload(artifact, 'e2e-broken-1.mender');
      const target = fleet!.clients[0];
      const deviceId = await deviceOf(target.mac);
      const id = await deploy({ name: 'broken', artifact_name: 'e2e-broken-1', devices: [deviceId], retries: 1 });
      const stats = await pokeUntil('the device to fail for good', async () => {
        const s = await statistics(id);
        return s.failure === 1 ? s : undefined;
      });
      assert.equal(stats.success, 0);
      const attempts = readFileSync(join(stateDir, `${target.label}.attempts`), 'utf8')
        .trim()
        .split('\n');
      assert.equal(attempts.length, 2, 'retries: 1 lets the client install a second time');
      const devices = (await api('GET', `${D1}/deployments/${id}/devices`)).json as { id: string; status: string }[];
      assert.deepEqual(
        devices.map((d) => [d.id, d.status]),
        [[deviceId, 'failure']],
      );
      const log = await fetch(`${server!.url}${D1}/deployments/${id}/devices/${deviceId}/log`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(log.status, 200);
      assert.match(String(log.headers.get('content-type')), /^text\/plain/);
      const text = await log.text();
      assert.match(text, /refusing to install on purpose/, text);
      assert.equal((await api('GET', `${D1}/deployments/${id}`)).json.status, 'finished');
    });

    step('an update control map pauses every client before installing until a PATCH lets it continue', async () => {
      const payload = join(work, 'second');
      mkdirSync(payload);
      writeFileSync(join(payload, 'hello-2.txt'), 'second release\n');
      const artifact = menderArtifact(work, [
        '-T',
        MODULE_TYPE,
        '-n',
        'e2e-hello-2',
        '-t',
        fleet!.deviceType,
        '-f',
        join(payload, 'hello-2.txt'),
      ]);
      await upload(artifact, 'e2e-hello-2.mender');
      const pause = { priority: 0, states: { ArtifactInstall_Enter: { action: 'pause' } } };
      const id = await deploy({
        name: 'paused',
        artifact_name: 'e2e-hello-2',
        devices: deviceIds,
        update_control_map: pause,
      });
      const paused = await pokeUntil('every client to pause before installing', async () => {
        const s = await statistics(id);
        if (s.failure > 0) throw new AbortWait(`a device failed: ${JSON.stringify(s)}`);
        return s.pause_before_installing === CLIENTS ? s : undefined;
      });
      assert.equal(paused.success, 0);
      for (const c of fleet!.clients) {
        assert.ok(!existsSync(join(stateDir, c.label, 'hello-2.txt')), `${c.label} installed while paused`);
      }
      const devices = (await api('GET', `${D1}/deployments/${id}/devices`)).json as { status: string }[];
      assert.deepEqual(
        devices.map((d) => d.status),
        Array(CLIENTS).fill('pause_before_installing'),
      );

      const patched = await api('PATCH', `${D1}/deployments/${id}`, {
        update_control_map: { priority: 0, states: { ArtifactInstall_Enter: { action: 'continue' } } },
      });
      assert.equal(patched.status, 204, JSON.stringify(patched.json));
      await pokeUntil('every client to finish after the PATCH', async () => {
        const s = await statistics(id);
        if (s.failure > 0) throw new AbortWait(`a device failed: ${JSON.stringify(s)}`);
        return s.success === CLIENTS ? s : undefined;
      });
      for (const c of fleet!.clients) {
        assert.equal(readFileSync(join(stateDir, c.label, 'hello-2.txt'), 'utf8'), 'second release\n');
      }
      assert.equal((await api('GET', `${D1}/deployments/${id}`)).json.status, 'finished');
    });

    step("an artifact made by Flotilla's generate installs on a real client", async () => {
      const body = multipart(
        {
          name: 'e2e-generated-1',
          description: 'made by generate',
          device_types_compatible: fleet!.deviceType,
          type: 'single_file',
          args: JSON.stringify({ dest_dir: destDir, filename: 'generated.txt' }),
        },
        { field: 'file', filename: 'generated.txt', content: Buffer.from('made by generate\n') },
      );
      const gen = await fetch(`${server!.url}${D1}/artifacts/generate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, ...body.headers },
        body: new Uint8Array(body.payload),
      });
      assert.equal(gen.status, 201, await gen.text());
      const deviceId = await deviceOf(fleet!.clients[1].mac);
      const id = await deploy({ name: 'generated', artifact_name: 'e2e-generated-1', devices: [deviceId] });
      await pokeUntil('the device to install the generated artifact', async () => {
        const s = await statistics(id);
        if (s.failure > 0) throw new AbortWait(`the device failed: ${JSON.stringify(s)}`);
        return s.success === 1 ? s : undefined;
      });
      assert.equal(readFileSync(join(destDir, 'generated.txt'), 'utf8'), 'made by generate\n');
    });
  });
