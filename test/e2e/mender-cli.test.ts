// The real mender-cli against Flotilla: it logs in with the admin's credentials, uploads an artifact made by
// the real mender-artifact, and the artifact we then serve for download passes `mender-artifact read`.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type FlotillaServer, startFlotilla } from './flotilla-server.js';

const run = promisify(execFile);

describe('real mender-cli against Flotilla (sqlite)', () => {
  let server: FlotillaServer;
  let work: string;
  let token: string;

  before(async () => {
    server = await startFlotilla('sqlite');
    work = mkdtempSync(join(tmpdir(), 'flotilla-cli-'));
  });
  after(async () => {
    await server?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  const cli = (...args: string[]) =>
    run('mender-cli', ['--server', server.url, ...args], {
      cwd: work,
      env: { ...process.env, HOME: work },
    });

  it('logs in with email and password and keeps a token that the management API accepts', async () => {
    const { stdout, stderr } = await cli('login', '--username', server.adminEmail, '--password', server.adminPassword);
    assert.match(stdout + stderr, /login successful/i);
    // mender-cli keeps its token in ~/.cache/mender/authtoken (its --token flag is not read by every command).
    token = readFileSync(join(work, '.cache', 'mender', 'authtoken'), 'utf8').trim();
    const me = await fetch(`${server.url}/api/management/v1/useradm/users/me`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(me.status, 200);
    assert.equal((await me.json()).email, server.adminEmail);
  });

  it('refuses a wrong password', async () => {
    await assert.rejects(
      run(
        'mender-cli',
        [
          '--server',
          server.url,
          '--token',
          join(work, 'bad-token'),
          'login',
          '--username',
          server.adminEmail,
          '--password',
          'wrong-password',
        ],
        {
          env: { ...process.env, HOME: work },
        },
      ),
    );
  });

  it('uploads an artifact that we then serve back byte for byte, readable by mender-artifact', async () => {
    writeFileSync(join(work, 'hello.txt'), 'hello from mender-cli\n');
    const artifact = join(work, 'cli.mender');
    await run('mender-artifact', [
      'write',
      'module-image',
      '-T',
      'single-file',
      '-n',
      'cli-1.0',
      '-t',
      'qemux86-64',
      '-f',
      join(work, 'hello.txt'),
      '-o',
      artifact,
    ]);
    const { stdout, stderr } = await cli(
      'artifacts',
      'upload',
      '--no-progress',
      '--description',
      'from the cli',
      artifact,
    );
    assert.doesNotMatch(stdout + stderr, /error|fail/i);
    const list = await fetch(`${server.url}/api/management/v1/deployments/artifacts`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const artifacts = (await list.json()) as { id: string; name: string; description: string }[];
    const uploaded = artifacts.find((a) => a.name === 'cli-1.0');
    assert.ok(uploaded, JSON.stringify(artifacts));
    assert.equal(uploaded.description, 'from the cli');
    const link = await fetch(`${server.url}/api/management/v1/deployments/artifacts/${uploaded.id}/download`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const { uri } = (await link.json()) as { uri: string };
    const body = Buffer.from(await (await fetch(uri)).arrayBuffer());
    const original = readFileSync(artifact);
    assert.ok(body.equals(original));
    const downloaded = join(work, 'downloaded.mender');
    writeFileSync(downloaded, body);
    const read = await run('mender-artifact', ['read', downloaded]);
    assert.match(read.stdout, /Name: cli-1\.0/);
  });
});
