// Runs the real SWUpdate (Debian's `swupdate`) in suricatta/hawkBit mode against a Flotilla server, as
// /work/shared/REAL-CLIENTS.md describes: dry-run (`-n`, nothing is written to disks), a throwaway signing
// certificate (Debian's build only accepts CMS-signed images), `-H board:rev` and a `.swu` built with cpio and
// `openssl cms` whose sw-description names that hardware revision. Each client has its own folder, TMPDIR (SWUpdate
// puts its IPC sockets there, so two clients never share one) and log file, in a process group of its own.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type GroupProcess, killGroup, logTail, trackGroup } from '../e2e/process.js';

export const BOARD = 'flotilla-board';
export const REVISION = '1.0';

/** Throws (the test fails, it does not skip) when swupdate, cpio or openssl are missing. */
export function requireSwupdate(): void {
  for (const [tool, args] of [
    ['swupdate', ['-h']],
    ['cpio', ['--version']],
    ['openssl', ['version']],
  ] as const) {
    const probe = spawnSync(tool, [...args], { encoding: 'utf8' });
    if (probe.error) throw new Error(`${tool} is required for this test (apt-get install -y swupdate cpio openssl)`);
  }
}

function run(command: string, args: string[], options: { cwd: string; input?: string }): void {
  const res = spawnSync(command, args, { cwd: options.cwd, input: options.input, encoding: 'utf8' });
  if (res.error || res.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${res.error ?? res.stderr}`);
}

export interface SwuKit {
  dir: string;
  certPath: string;
  cleanup(): void;
}

/** A folder with a fresh self-signed signing key and certificate. */
export function makeKit(): SwuKit {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-swu-'));
  run(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-keyout',
      'key.pem',
      '-out',
      'cert.pem',
      '-days',
      '3',
      '-nodes',
      '-subj',
      '/CN=flotilla-e2e',
      '-addext',
      'keyUsage=digitalSignature',
      '-addext',
      'extendedKeyUsage=emailProtection',
    ],
    { cwd: dir },
  );
  return { dir, certPath: join(dir, 'cert.pem'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * A signed `.swu` (cpio newc: sw-description, sw-description.sig, then the image) that writes one small file under
 * the kit's folder (never reached in dry-run). Returns the bytes.
 */
export function buildSwu(kit: SwuKit, version: string, content = `flotilla e2e ${version}\n`): Buffer {
  const work = mkdtempSync(join(kit.dir, 'swu-'));
  writeFileSync(join(work, 'payload.txt'), content);
  const sha256 = createHash('sha256').update(content).digest('hex');
  writeFileSync(
    join(work, 'sw-description'),
    `software =
{
  version = "${version}";
  hardware-compatibility = [ "${REVISION}" ];
  files: (
    {
      filename = "payload.txt";
      path = "${join(kit.dir, 'never-written', 'payload.txt')}";
      sha256 = "${sha256}";
    }
  );
};
`,
  );
  run(
    'openssl',
    [
      'cms',
      '-sign',
      '-in',
      'sw-description',
      '-out',
      'sw-description.sig',
      '-signer',
      join(kit.dir, 'cert.pem'),
      '-inkey',
      join(kit.dir, 'key.pem'),
      '-outform',
      'DER',
      '-nosmimecap',
      '-binary',
    ],
    { cwd: work },
  );
  run('sh', ['-c', 'cpio -o -H newc > update.swu 2>/dev/null'], {
    cwd: work,
    input: 'sw-description\nsw-description.sig\npayload.txt\n',
  });
  return readFileSync(join(work, 'update.swu'));
}

export interface SwupdateClient {
  logPath: string;
  log(): string;
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

/**
 * Starts `swupdate -n` polling `serverUrl` as `controllerId` with `targetToken`; `confirm: 2` sends closed/success
 * for the action in progress (what a real device does after the reboot into the new image).
 */
export function startSwupdate(
  kit: SwuKit,
  options: { serverUrl: string; tenant?: string; controllerId: string; targetToken: string; confirm?: 2 | 3 },
): SwupdateClient {
  const home = mkdtempSync(join(kit.dir, `client-${options.controllerId}-`));
  const tmp = join(home, 'tmp');
  mkdirSync(tmp);
  const config = join(home, 'swu.cfg');
  writeFileSync(config, 'globals :\n{\n  verbose = true;\n  loglevel = 6;\n};\n');
  const logPath = join(home, 'swupdate.log');
  const suricatta = [
    `-t ${options.tenant ?? 'DEFAULT'}`,
    `-u ${options.serverUrl}`,
    `-i ${options.controllerId}`,
    `-k ${options.targetToken}`,
    '-p 1',
    ...(options.confirm ? [`-c ${options.confirm}`] : []),
  ].join(' ');
  const fd = openSync(logPath, 'a');
  const child = spawn(
    'swupdate',
    ['-v', '-n', '-k', kit.certPath, '-H', `${BOARD}:${REVISION}`, '-f', config, '-u', suricatta],
    { cwd: home, detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, TMPDIR: tmp } },
  );
  closeSync(fd);
  const group: GroupProcess = trackGroup(child, `swupdate ${options.controllerId}`);
  return {
    logPath,
    log: () => readFileSync(logPath, 'utf8'),
    logTail: (lines = 40) => logTail(logPath, lines),
    stop: () => killGroup(group, 3000),
  };
}
