// Starts a throw-away single-node Ceph (one monitor, one BlueStore OSD on a sparse file) with radosgw in front, from
// Debian's packages, for the S3 blob store's tests: the recipe of research/scale-out.md §6.1, on free ports in a
// temporary folder. About 15 s here. `radosgwMissing()` names what is not installed, for a one-line skip.
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

const run = promisify(execFile);
const PROGRAMS = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'monmaptool', 'ceph'];

/** Why radosgw cannot run here (a missing program), or undefined when it can. */
export function radosgwMissing(): string | undefined {
  const missing = PROGRAMS.filter((p) => spawnSync('sh', ['-c', `command -v ${p}`]).status !== 0);
  return missing.length
    ? `radosgw not installed (no ${missing.join(', ')}; apt-get install radosgw ceph-mon ceph-osd)`
    : undefined;
}

export interface Radosgw {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** radosgw's own log: one `beast:` line per request it served (method, path, status). */
  logPath: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function until(what: string, check: () => Promise<boolean>, attempts = 240): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`radosgw harness: ${what} did not happen`);
}

export async function startRadosgw(): Promise<Radosgw> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-rgw-'));
  const conf = join(dir, 'ceph.conf');
  const fsid = randomUUID();
  const [monPort, rgwPort] = [await freePort(), await freePort()];
  mkdirSync(join(dir, 'run'));
  mkdirSync(join(dir, 'log'));
  writeFileSync(
    conf,
    `[global]
fsid = ${fsid}
mon host = v1:127.0.0.1:${monPort}
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon max pg per osd = 1000
mon data avail warn = 1
osd objectstore = bluestore
bluestore block create = true
# 16 GiB, sparse: radosgw's garbage collection frees deleted multipart objects only hours later, so the transfer
# benchmark's 1 GiB uploads filled the 3 GiB of the research recipe ("full status failsafe engaged") and hung.
bluestore block size = 17179869184
run dir = ${dir}/run
admin socket = ${dir}/run/$cluster-$name.asok
log file = ${dir}/log/$cluster-$name.log
pid file = ${dir}/run/$cluster-$name.pid
osd data = ${dir}/osd$id
mon data = ${dir}/mon.$id
[osd]
osd crush chooseleaf type = 0
# The OSD's own start-up calls to place itself in the CRUSH map were sometimes refused ("wrong fsid") and the OSD
# stopped; the harness places it before the start instead, and it needs no device class.
osd class update on start = false
osd crush update on start = false
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
`,
  );
  // The daemons run in the foreground (-f) as our children, so that they are reaped when killed, not left behind.
  const daemons: ChildProcess[] = [];
  const daemon = (program: string, args: string[]) => {
    const child = spawn(program, ['-f', ...args], { stdio: 'ignore' });
    child.on('error', () => undefined);
    daemons.push(child);
  };
  const stop = async () => {
    await Promise.all(
      daemons.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const c = ['-c', conf];
    // --addv with an explicit v1 address: a bare ip:port became msgr2 and the clients hung (research note).
    await run('monmaptool', [
      '--create',
      '--addv',
      'a',
      `[v1:127.0.0.1:${monPort}]`,
      '--fsid',
      fsid,
      join(dir, 'monmap'),
    ]);
    await run('ceph-mon', ['--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap'), ...c]);
    daemon('ceph-mon', ['-i', 'a', ...c]);
    const osdUuid = randomUUID();
    // The OSD's uuid goes to the monitor first, else the OSD is refused at start.
    const id = (await run('ceph', [...c, '--connect-timeout', '20', 'osd', 'create', osdUuid])).stdout.trim();
    mkdirSync(join(dir, `osd${id}`));
    await run('ceph-osd', ['-i', id, '--mkfs', '--osd-uuid', osdUuid, ...c]);
    await run('ceph', [
      ...c,
      '--connect-timeout',
      '20',
      'osd',
      'crush',
      'add',
      `osd.${id}`,
      '1',
      'root=default',
      'host=flotilla-test',
    ]);
    daemon('ceph-osd', ['-i', id, ...c]);
    await until('the OSD coming up', async () =>
      (await run('ceph', [...c, '--connect-timeout', '5', 'osd', 'stat'])).stdout.includes('1 up'),
    );
    daemon('radosgw', [...c, '-n', 'client.rgw.a']);
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await until('radosgw answering', async () => (await fetch(endpoint)).status === 200);
    const credentials = {
      accessKeyId: randomBytes(10).toString('hex'),
      secretAccessKey: randomBytes(20).toString('hex'),
    };
    await run('radosgw-admin', [
      ...c,
      'user',
      'create',
      '--uid=flotilla',
      '--display-name=flotilla',
      `--access-key=${credentials.accessKeyId}`,
      `--secret=${credentials.secretAccessKey}`,
    ]);
    return { endpoint, region: 'us-east-1', credentials, logPath: join(dir, 'log', 'ceph-client.rgw.a.log'), stop };
  } catch (error) {
    // FLOTILLA_RGW_KEEP=1 leaves a cluster that failed to start for a look (ceph -c DIR/ceph.conf -s, DIR/log).
    if (process.env.FLOTILLA_RGW_KEEP) throw error;
    await stop();
    throw error;
  }
}

/**
 * A client of `rgw` with `bucket` made, and the AWS credential variables set in this process's environment, which
 * the `flotilla serve` children started after it read as production does.
 */
export async function radosgwBucket(rgw: Radosgw, bucket: string): Promise<S3Client> {
  const s3 = new S3Client({
    endpoint: rgw.endpoint,
    region: rgw.region,
    forcePathStyle: true,
    credentials: rgw.credentials,
  });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  process.env.AWS_ACCESS_KEY_ID = rgw.credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = rgw.credentials.secretAccessKey;
  return s3;
}
