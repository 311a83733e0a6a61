// End to end with the real remote-troubleshooting stack from Debian: mender-client 3.4 with its D-Bus API on a
// private bus, mender-connect 2.1 beside it (it reaches Flotilla through the client's local proxy), and the
// operator's mender-cli. A terminal through a pty, check-update, the device socket surviving server pings and a
// kill of mender-connect (whose death the proxy forwards as the illegal close code 1006).
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, connect as connectTcp, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { dialects } from '../support/app.js';
import { type MenderFleet, requireMender, startMenderClients } from '../support/mender-client.js';
import { MenderConnect, type PrivateBus, startPrivateBus } from '../support/mender-connect.js';
import { typeIntoPty } from '../support/pty.js';
import { callApi, type FlotillaServer, startFlotilla } from './flotilla-server.js';
import { AbortWait, waitFor } from './process.js';

const run = promisify(execFile);
/**
 * On SQLite the server pings as Mender's does (every 30 s, the default) and the device socket idles 95 s, the issue's
 * 90 s and more; on PostgreSQL pings every second, so that surviving several takes seconds (the same mechanism).
 */
const PING_SECONDS: Record<string, number> = { sqlite: 30, postgres: 1 };
const IDLE_SECONDS: Record<string, number> = { sqlite: 95, postgres: 5 };

/** A local port nobody listens on now (the system picks it; mender-cli binds it a moment later). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Sends `payload` to 127.0.0.1:port and resolves with as many bytes read back. */
function echoThrough(port: number, payload: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, '127.0.0.1');
    const parts: Buffer[] = [];
    let got = 0;
    socket.on('error', reject);
    socket.on('close', () => reject(new Error('closed early')));
    socket.on('connect', () => socket.write(payload));
    socket.on('data', (data) => {
      parts.push(data);
      got += data.length;
      if (got >= payload.length) {
        socket.destroy();
        resolve(Buffer.concat(parts));
      }
    });
  });
}

for (const dialect of dialects) {
  // On PostgreSQL two server processes share the database: the device is connected to one, the operator (mender-cli
  // and every management call) talks to the other, so every step crosses processes.
  describe(`mender-connect 2.1 and mender-cli against flotilla serve (${dialect}${dialect === 'postgres' ? ', two processes' : ''})`, () => {
    let server: FlotillaServer | undefined;
    let operatorServer: FlotillaServer | undefined;
    let bus: PrivateBus | undefined;
    let fleet: MenderFleet | undefined;
    let connect: MenderConnect | undefined;
    let work = '';
    let token = '';
    let deviceId = '';
    let failed = false;

    const step = (name: string, body: () => Promise<void>) =>
      it(name, async () => {
        assert.ok(!failed, 'an earlier step failed');
        try {
          await body();
        } catch (error) {
          failed = true;
          process.stderr.write(`\n=== "${name}" failed ===\n`);
          if (server) process.stderr.write(`--- flotilla log ---\n${server.logTail(80)}\n`);
          if (operatorServer && operatorServer !== server) {
            const lines = operatorServer
              .logTail(400)
              .split('\n')
              .filter((l) => /\/connect|"statusCode":[45]|"level":[4-6]0/.test(l));
            process.stderr.write(`--- operator's flotilla (device connect) ---\n${lines.slice(-30).join('\n')}\n`);
          }
          process.stderr.write(`--- operator's flotilla ---\n${operatorServer?.logTail(40)}\n`);
          if (fleet) process.stderr.write(`${fleet.logTails()}\n`);
          if (connect) process.stderr.write(`--- mender-connect ---\n${connect.logTail(60)}\n`);
          throw error;
        }
      });

    const api = (method: string, path: string, body?: unknown) =>
      callApi(operatorServer!.url, token, method, path, body);
    const cli = (...args: string[]) =>
      run('mender-cli', ['--server', operatorServer!.url, ...args], { cwd: work, env: { ...process.env, HOME: work } });
    /** The device socket's version (raised by every new socket), read from the server's store; PostgreSQL: none. */
    const socketVersion = () => {
      if (dialect !== 'sqlite') return undefined;
      const db = new Database(join(server!.dataDir, 'flotilla.sqlite'), { readonly: true, fileMustExist: true });
      try {
        const row = db.prepare('select version from deviceconnect_states where device_id = ?').get(deviceId) as
          | { version: number }
          | undefined;
        return row?.version;
      } finally {
        db.close();
      }
    };
    const connectStatus = async () => {
      const res = await api('GET', `/api/management/v1/deviceconnect/devices/${deviceId}`);
      assert.equal(res.status, 200, JSON.stringify(res.json));
      return res.json as { device_id: string; status: string };
    };

    before(async () => {
      requireMender();
      work = mkdtempSync(join(tmpdir(), 'flotilla-connect-'));
      const env = { FLOTILLA_DEVICECONNECT_PING_INTERVAL: String(PING_SECONDS[dialect]), FLOTILLA_LOG_LEVEL: 'info' };
      server = await startFlotilla(dialect, { env });
      operatorServer = dialect === 'postgres' ? await startFlotilla(dialect, { env, sharing: server }) : server;
      bus = await startPrivateBus();
      fleet = await startMenderClients({
        serverUrl: server.url,
        tenantToken: server.tenantToken,
        count: 1,
        pollSeconds: 2,
        // Update checks come only from check-update during the test (and the client's own first one).
        updatePollSeconds: 3600,
        dbus: true,
        env: { DBUS_SYSTEM_BUS_ADDRESS: bus.address },
      });
      connect = new MenderConnect(work, bus.address, fleet.clients[0].pid);
    });

    after(async () => {
      await connect?.stop();
      await fleet?.stop();
      await bus?.stop();
      if (operatorServer !== server) await operatorServer?.stop();
      await server?.stop();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    step('mender-cli logs in and the device is admitted', async () => {
      await cli('login', '--username', server!.adminEmail, '--password', server!.adminPassword);
      token = readFileSync(join(work, '.cache', 'mender', 'authtoken'), 'utf8').trim();
      const device = await waitFor('the device to ask for admission', async () => {
        const res = await api('GET', '/api/management/v2/devauth/devices');
        if (res.status !== 200) throw new AbortWait(`list devices: ${res.status}`);
        return (res.json as { id: string; auth_sets: { id: string }[] }[])[0];
      });
      deviceId = device.id;
      const res = await api(
        'PUT',
        `/api/management/v2/devauth/devices/${deviceId}/auth/${device.auth_sets[0].id}/status`,
        {
          status: 'accepted',
        },
      );
      assert.equal(res.status, 204);
      fleet!.clients[0].signal('SIGUSR2');
    });

    step('mender-connect connects through the client and the device shows connected', async () => {
      // Started once the client holds a token: started earlier, its first GetJwtToken may find no one on the bus yet,
      // and then it waits for a token-change signal the client has already sent.
      const client = fleet!.clients[0];
      await waitFor('the client to receive its token', () => {
        if (client.exited) throw new AbortWait(`mender exited (${client.exited})`);
        return /successfully received new authorization data/.test(client.log()) || undefined;
      });
      connect!.start();
      await waitFor('the device socket', async () => {
        if (connect!.exited) throw new AbortWait(`mender-connect exited (${connect!.exited})`);
        return (await connectStatus()).status === 'connected' || undefined;
      });
      const unknown = await api('GET', '/api/management/v1/deviceconnect/devices/00000000-0000-4000-8000-000000000000');
      assert.equal(unknown.status, 404);
    });

    const terminal = async () => {
      const output = await typeIntoPty(['mender-cli', '--server', operatorServer!.url, 'terminal', deviceId], {
        input: 'echo hello-$((6*7))\r',
        expect: 'hello-42',
        quit: '\x1d',
        env: { HOME: work },
        cwd: work,
      });
      assert.match(output, /hello-42/, `terminal output:\n${output}`);
    };

    // Before any terminal: mender-connect stops a shell in about 4 s, and its message loop waits meanwhile.
    step('check-update makes the client ask for a deployment', async () => {
      const polls = () =>
        (readFileSync(server!.logPath, 'utf8').match(/deployments\/device\/deployments\/next/g) ?? []).length;
      const before = polls();
      const res = await api('POST', `/api/management/v1/deviceconnect/devices/${deviceId}/check-update`);
      assert.equal(res.status, 202, JSON.stringify(res.json));
      await waitFor('the client to poll deployments/next', () => (polls() > before ? true : undefined), {
        intervalMs: 100,
      });
      const inventory = await api('POST', `/api/management/v1/deviceconnect/devices/${deviceId}/send-inventory`);
      assert.equal(inventory.status, 202);
    });

    step('mender-cli terminal runs a command in a shell on the device', terminal);

    step('mender-cli cp copies a 100 KiB file to the device and back, byte for byte', async () => {
      // 100 KiB crosses the device's 80 KiB send window and the server's 20-chunk upload window.
      const content = randomBytes(100 * 1024);
      const local = join(work, 'local.bin');
      writeFileSync(local, content);
      const onDevice = join(work, 'on-device.bin');
      await cli('cp', local, `${deviceId}:${onDevice}`);
      assert.ok(readFileSync(onDevice).equals(content), 'the uploaded file is identical');
      const back = join(work, 'back.bin');
      await cli('cp', `${deviceId}:${onDevice}`, back);
      assert.ok(readFileSync(back).equals(content), 'the downloaded file is identical');

      const head = await fetch(
        `${operatorServer!.url}/api/management/v1/deviceconnect/devices/${deviceId}/download?path=${encodeURIComponent(onDevice)}`,
        { method: 'HEAD', headers: { authorization: `Bearer ${token}` } },
      );
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('x-men-file-size'), String(content.length));
      const dir = await api(
        'GET',
        `/api/management/v1/deviceconnect/devices/${deviceId}/download?path=${encodeURIComponent(work)}`,
      );
      assert.equal(dir.status, 400, JSON.stringify(dir.json));
      const missing = await api(
        'GET',
        `/api/management/v1/deviceconnect/devices/${deviceId}/download?path=/no/such/file`,
      );
      assert.equal(missing.status, 400, JSON.stringify(missing.json));
      assert.match(missing.json.error, /no such file/i);
      const events = readFileSync(server!.logPath, 'utf8');
      assert.doesNotMatch(events, /unhandled error/);
    });

    step('mender-cli port-forward reaches an echo server through the device', async () => {
      const echo = createServer((socket) => socket.pipe(socket));
      await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
      const echoPort = (echo.address() as AddressInfo).port;
      // A port free a moment ago (the port next to the echo server's may be anybody's on a busy machine).
      const localPort = await freePort();
      const forward = spawn(
        'mender-cli',
        ['--server', operatorServer!.url, 'port-forward', deviceId, `${localPort}:127.0.0.1:${echoPort}`],
        {
          cwd: work,
          env: { ...process.env, HOME: work },
          stdio: 'ignore',
        },
      );
      try {
        const payload = randomBytes(20_000);
        const answer = await waitFor('the forwarded port to echo', async () => {
          if (forward.exitCode !== null) throw new AbortWait(`mender-cli port-forward exited (${forward.exitCode})`);
          return await echoThrough(localPort, payload).catch(() => undefined);
        });
        assert.ok(answer.equals(payload), 'the echo came back unchanged');
      } finally {
        forward.kill('SIGKILL');
        echo.close();
      }
    });

    step(
      `the device socket survives ${IDLE_SECONDS[dialect]} s idle under pings every ${PING_SECONDS[dialect]} s`,
      async () => {
        // Ping intervals without a message: a socket that did not answer the pings would be closed by now, and one the
        // device dropped and opened again would have a new version.
        const log = () => readFileSync(server!.logPath, 'utf8');
        const closes = (log().match(/device socket silent/g) ?? []).length;
        const version = socketVersion();
        await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS[dialect] * 1000));
        assert.equal((log().match(/device socket silent/g) ?? []).length, closes, 'no socket was closed for silence');
        assert.equal((await connectStatus()).status, 'connected');
        assert.equal(socketVersion(), version, 'the same device socket');
      },
    );

    step('a killed mender-connect shows disconnected, then connected again when it comes back', async () => {
      await connect!.kill();
      await waitFor('the device to show disconnected', async () =>
        (await connectStatus()).status === 'disconnected' ? true : undefined,
      );
      connect!.start();
      await waitFor('the device to show connected again', async () =>
        (await connectStatus()).status === 'connected' ? true : undefined,
      );
      await terminal();
    });
  });
}
