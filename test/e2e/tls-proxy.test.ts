// End to end behind a real TLS reverse proxy: nginx (Debian's package) terminates HTTPS with a self-signed
// certificate made by openssl here, and forwards to `flotilla serve` on plain HTTP with X-Forwarded-Proto / -Host.
// Flotilla runs with its defaults (no FLOTILLA_PUBLIC_URL; a proxy on loopback is trusted), so every link it hands
// out must be built from the forwarded headers: a real mender-client 3.4, which trusts only that certificate
// (ServerCertificate), is admitted, gets a group deployment (the web GUI's body, `all_devices: false`), downloads
// the artifact through the https:// link it is given (nginx's access log shows it) and installs it. The proxy path
// does not depend on the SQL dialect: this runs on SQLite only, to stay lean.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type MenderFleet, requireMender, startMenderClients } from '../support/mender-client.js';
import { multipart } from '../support/multipart.js';
import { callApi, type FlotillaServer, startFlotilla } from './flotilla-server.js';
import { AbortWait, type GroupProcess, killGroup, logTail, trackGroup, waitFor } from './process.js';

const D1 = '/api/management/v1/deployments';

function run(program: string, args: string[]): void {
  const res = spawnSync(program, args, { encoding: 'utf8' });
  if (res.error || res.status !== 0) throw new Error(`${program} failed: ${res.error ?? res.stderr}`);
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** A self-signed certificate for 127.0.0.1 and localhost (Go clients want the name in subjectAltName). */
function selfSigned(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'proxy.crt');
  const key = join(dir, 'proxy.key');
  run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=flotilla-e2e-proxy',
    '-addext',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '-keyout',
    key,
    '-out',
    cert,
  ]);
  return { cert, key };
}

/** nginx in the foreground, in a folder of its own, forwarding HTTPS on `port` to Flotilla's plain HTTP. */
function startNginx(dir: string, port: number, upstream: string, tls: { cert: string; key: string }): GroupProcess {
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `# Flotilla's TLS-proxy end-to-end test (test/e2e/tls-proxy.test.ts)
daemon off;
user root;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${tls.cert};
    ssl_certificate_key ${tls.key};
    location / {
      proxy_pass ${upstream};
      proxy_http_version 1.1;
      proxy_request_buffering off;
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-Host $host:$server_port;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`,
  );
  const child = spawn('nginx', ['-p', dir, '-c', conf], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  return trackGroup(child, 'nginx');
}

/** GET over HTTPS trusting only `ca`, as the management client of the proxy. */
function getThroughProxy(url: string, ca: string, token: string): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers: { authorization: `Bearer ${token}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('mender-client 3.4 behind an nginx TLS proxy', () => {
  let server: FlotillaServer | undefined;
  let fleet: MenderFleet | undefined;
  let nginx: GroupProcess | undefined;
  let work = '';
  let proxyDir = '';
  let destDir = '';
  let proxyUrl = '';
  let ca = '';
  let token = '';
  let failed = false;

  const step = (name: string, body: () => Promise<void>) =>
    it(name, async () => {
      assert.ok(!failed, 'an earlier step failed');
      try {
        await body();
      } catch (error) {
        failed = true;
        if (server) process.stderr.write(`--- flotilla log ---\n${server.logTail()}\n`);
        if (proxyDir) process.stderr.write(`--- nginx ---\n${logTail(join(proxyDir, 'error.log'), 20)}\n`);
        if (fleet) process.stderr.write(`${fleet.logTails()}\n`);
        throw error;
      }
    });

  // The admin talks to Flotilla directly; only what the test is about goes through the proxy.
  const api = (method: string, path: string, body?: unknown) => callApi(server!.url, token, method, path, body);

  before(async () => {
    requireMender();
    work = mkdtempSync(join(tmpdir(), 'flotilla-e2e-tls-'));
    proxyDir = join(work, 'nginx');
    destDir = join(work, 'installed');
    mkdirSync(proxyDir);
    mkdirSync(destDir);
    const tls = selfSigned(work);
    ca = readFileSync(tls.cert, 'utf8');
    server = await startFlotilla('sqlite');
    const port = await freePort();
    nginx = startNginx(proxyDir, port, server.url, tls);
    proxyUrl = `https://127.0.0.1:${port}`;
    await waitFor('nginx to answer HTTPS', async () => {
      if (nginx!.exited) throw new AbortWait(`nginx exited: ${logTail(join(proxyDir, 'error.log'), 20)}`);
      return getThroughProxy(`${proxyUrl}/api/openapi.json`, ca, '').then(
        (res) => (res.status === 200 ? true : undefined),
        () => undefined,
      );
    });
    fleet = await startMenderClients({
      serverUrl: proxyUrl,
      tenantToken: server.tenantToken,
      count: 1,
      config: { ServerCertificate: tls.cert },
    });
  });

  after(async () => {
    await fleet?.stop();
    if (nginx) await killGroup(nginx);
    await server?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  step('the client is admitted through the proxy', async () => {
    const basic = Buffer.from(`${server!.adminEmail}:${server!.adminPassword}`).toString('base64');
    const login = await fetch(`${server!.url}/api/management/v1/useradm/auth/login`, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}` },
    });
    token = await login.text();
    assert.equal(login.status, 200);
    const [client] = fleet!.clients;
    const device = await waitFor('the client to ask for admission over HTTPS', async () => {
      if (client.exited) throw new AbortWait(`mender exited: ${client.logTail()}`);
      const list = (await api('GET', '/api/management/v2/devauth/devices')).json as {
        id: string;
        auth_sets: { id: string }[];
      }[];
      return list[0];
    });
    const accepted = await api(
      'PUT',
      `/api/management/v2/devauth/devices/${device.id}/auth/${device.auth_sets[0].id}/status`,
      { status: 'accepted' },
    );
    assert.equal(accepted.status, 204);
    assert.equal(
      (await api('PUT', `/api/management/v1/inventory/devices/${device.id}/group`, { group: 'tls' })).status,
      204,
    );
  });

  step(
    'links handed out through the proxy are https:// on the proxy, and the client installs through one',
    async () => {
      const payload = join(work, 'payload');
      mkdirSync(payload);
      writeFileSync(join(payload, 'hello.txt'), 'hello through TLS\n');
      writeFileSync(join(payload, 'dest_dir'), destDir);
      writeFileSync(join(payload, 'filename'), 'hello.txt');
      writeFileSync(join(payload, 'permissions'), '644');
      const artifactPath = join(work, 'tls-hello.mender');
      run('mender-artifact', [
        'write',
        'module-image',
        '-T',
        'single-file',
        '-n',
        'tls-hello-1',
        '-t',
        fleet!.deviceType,
        ...['dest_dir', 'filename', 'permissions', 'hello.txt'].flatMap((f) => ['-f', join(payload, f)]),
        '-o',
        artifactPath,
      ]);
      const body = multipart(
        {},
        { field: 'artifact', filename: 'tls-hello.mender', content: readFileSync(artifactPath) },
      );
      const uploaded = await fetch(`${server!.url}${D1}/artifacts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, ...body.headers },
        body: new Uint8Array(body.payload),
      });
      assert.equal(uploaded.status, 201, await uploaded.text());
      const artifactId = String(uploaded.headers.get('location')).split('/').pop();

      // The management download link, asked for through the proxy, points back through it.
      const link = await getThroughProxy(`${proxyUrl}${D1}/artifacts/${artifactId}/download`, ca, token);
      assert.equal(link.status, 200, JSON.stringify(link.json));
      assert.ok(
        String((link.json as { uri: string }).uri).startsWith(`${proxyUrl}/api/downloads/`),
        JSON.stringify(link.json),
      );

      // A group deployment with the body Mender's web GUI posts.
      const created = await api('POST', `${D1}/deployments/group/tls`, {
        artifact_name: 'tls-hello-1',
        all_devices: false,
        group: 'tls',
        name: 'tls',
        force_installation: false,
      });
      assert.equal(created.status, 201, JSON.stringify(created.json));
      const deploymentId = String(created.headers.get('location')).split('/').pop();
      const [client] = fleet!.clients;
      await waitFor(
        'the client to report success',
        async () => {
          if (client.exited) throw new AbortWait(`mender exited: ${client.logTail()}`);
          client.signal('SIGUSR1');
          const stats = (await api('GET', `${D1}/deployments/${deploymentId}/statistics`)).json as Record<
            string,
            number
          >;
          if (stats.failure > 0) throw new AbortWait(`the device failed: ${JSON.stringify(stats)}`);
          return stats.success === 1 || undefined;
        },
        { timeoutMs: 120_000, intervalMs: 1000 },
      );
      assert.equal(readFileSync(join(destDir, 'hello.txt'), 'utf8'), 'hello through TLS\n');
      // The artifact came through nginx: its signed download path is in the proxy's access log.
      assert.match(readFileSync(join(proxyDir, 'access.log'), 'utf8'), /"GET \/api\/downloads\/[^"]+ HTTP\/1\.1" 200 /);
    },
  );
});
