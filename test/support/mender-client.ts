// Runs real mender-client 3.4 daemons against a Flotilla server: one config, data directory (own RSA key), identity
// and log file per daemon. The client reads its identity, inventory scripts and artifact name from fixed system
// paths; `installDeviceFiles` puts ours there idempotently and never overwrites a file it did not write.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { AbortWait, type GroupProcess, killGroup, logTail, trackGroup, waitFor } from '../e2e/process.js';

export const IDENTITY_SCRIPT = '/usr/share/mender/identity/mender-device-identity';
export const INVENTORY_SCRIPT = '/usr/share/mender/inventory/mender-inventory-flotilla-e2e';
export const ARTIFACT_INFO = '/etc/mender/artifact_info';
/** The attribute our inventory script reports; its value is the client's label. */
export const INVENTORY_ATTRIBUTE = 'flotilla_e2e_client';

export const MARKER = "Installed by Flotilla's end-to-end tests";

// The client hands its environment to both scripts, so one script gives every daemon its own values.
const IDENTITY_SCRIPT_TEXT = `#!/bin/sh
# ${MARKER} (test/support/mender-client.ts): the identity comes from the client's environment.
echo "mac=\${DEVICE_MAC:-02:00:00:00:00:00}"
`;
const INVENTORY_SCRIPT_TEXT = `#!/bin/sh
# ${MARKER} (test/support/mender-client.ts): one attribute that names the client that sent it.
echo "${INVENTORY_ATTRIBUTE}=\${FLOTILLA_E2E_CLIENT:-unset}"
`;
const DEFAULT_ARTIFACT_NAME = 'flotilla-e2e-factory-image';

/** Path of the mender binary; throws (the test fails, it does not skip) when the client is not installed. */
export function requireMender(): string {
  const probe = spawnSync('mender', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      `the real mender client is required for this test (apt-get install -y mender-client): ${
        probe.error?.message ?? probe.stderr
      }`,
    );
  }
  return 'mender';
}

/** Installs a test's script at a system path, idempotently; never overwrites a file these tests did not write. */
export function installScript(path: string, text: string): void {
  if (existsSync(path)) {
    const current = readFileSync(path, 'utf8');
    if (current === text) {
      chmodSync(path, 0o755);
      return;
    }
    if (!current.includes(MARKER)) {
      throw new Error(`${path} exists and was not written by these tests; move it away to run the e2e test`);
    }
  }
  mkdirSync(dirname(path), { recursive: true });
  // Write-then-rename: a daemon of a concurrent test never runs a half-written script.
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(temporary, text, { mode: 0o755 });
  chmodSync(temporary, 0o755);
  renameSync(temporary, path);
}

/**
 * Installs the identity and inventory scripts and, when missing, /etc/mender/artifact_info. Returns the artifact
 * name the clients will report. These files stay in place afterwards: tests running side by side share them.
 */
export function installDeviceFiles(): { artifactName: string } {
  installScript(IDENTITY_SCRIPT, IDENTITY_SCRIPT_TEXT);
  installScript(INVENTORY_SCRIPT, INVENTORY_SCRIPT_TEXT);
  if (!existsSync(ARTIFACT_INFO)) {
    mkdirSync(dirname(ARTIFACT_INFO), { recursive: true });
    writeFileSync(ARTIFACT_INFO, `artifact_name=${DEFAULT_ARTIFACT_NAME}\n`, { flag: 'wx' });
  }
  const line = readFileSync(ARTIFACT_INFO, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('artifact_name='));
  const artifactName = line?.slice('artifact_name='.length).trim();
  if (!artifactName) throw new Error(`${ARTIFACT_INFO} has no artifact_name= line`);
  return { artifactName };
}

export interface MenderFleetOptions {
  serverUrl: string;
  tenantToken: string;
  count: number;
  deviceType?: string;
  /** Update and inventory poll interval; the retry interval is the same. */
  pollSeconds?: number;
  logLevel?: 'debug' | 'info' | 'warning';
  /** More environment for every daemon (its update modules and scripts inherit it). */
  env?: Record<string, string>;
  /** More mender.conf settings (e.g. ServerCertificate), over the defaults. */
  config?: Record<string, unknown>;
  /**
   * Gives each daemon a D-Bus of its own (a dbus-daemon on a socket in its directory, as its system bus) and turns
   * the client's D-Bus API on, so that its scripts can ask it for the token and its local proxy's URL.
   */
  privateBus?: boolean;
  /** Seconds between update checks when not `pollSeconds`. */
  updatePollSeconds?: number;
  /** Serve the io.mender.* D-Bus API (one daemon per bus: pass its DBUS_SYSTEM_BUS_ADDRESS in `env`). */
  dbus?: boolean;
}

export class MenderClient {
  constructor(
    /** Short name of this client: `client-1`, ... ; also the value of its inventory attribute. */
    readonly label: string,
    readonly mac: string,
    readonly dir: string,
    readonly logPath: string,
    private readonly group: GroupProcess,
    /** The client's own dbus-daemon, with `privateBus`. */
    private readonly bus?: GroupProcess,
  ) {}

  get pid(): number {
    return this.group.pid;
  }

  get exited(): string | undefined {
    return this.group.exited;
  }

  /** SIGUSR1: check for an update now; SIGUSR2: send the inventory now (both also end a retry wait). */
  signal(signal: 'SIGUSR1' | 'SIGUSR2'): void {
    if (!this.group.exited) process.kill(this.group.pid, signal);
  }

  log(): string {
    return existsSync(this.logPath) ? readFileSync(this.logPath, 'utf8') : '';
  }

  logTail(lines = 40): string {
    return logTail(this.logPath, lines);
  }

  async stop(): Promise<void> {
    await killGroup(this.group);
    if (this.bus) await killGroup(this.bus);
  }
}

export interface MenderFleet {
  clients: MenderClient[];
  deviceType: string;
  artifactName: string;
  /** The tail of every client's log, for a failed test's output. */
  logTails(lines?: number): string;
  stop(): Promise<void>;
}

/**
 * A dbus-daemon on a socket in `dir`, with the session policy (any name, same user): the client and its scripts
 * use it as their system bus through DBUS_SYSTEM_BUS_ADDRESS.
 */
async function startBus(dir: string): Promise<{ address: string; group: GroupProcess }> {
  const socket = join(dir, 'bus');
  const address = `unix:path=${socket}`;
  const child = spawn('dbus-daemon', ['--session', `--address=${address}`, '--nofork', '--nopidfile'], {
    detached: true,
    stdio: 'ignore',
  });
  const group = trackGroup(child, `dbus-daemon ${dir}`);
  await waitFor('the private D-Bus socket', () => {
    if (group.exited) throw new AbortWait(`dbus-daemon exited (${group.exited})`);
    return existsSync(socket) || undefined;
  });
  return { address, group };
}

export async function startMenderClients(options: MenderFleetOptions): Promise<MenderFleet> {
  const mender = requireMender();
  const { artifactName } = installDeviceFiles();
  const deviceType = options.deviceType ?? 'flotilla-e2e-board';
  const poll = options.pollSeconds ?? 3;
  const root = mkdtempSync(join(tmpdir(), 'flotilla-mender-'));
  const run = randomBytes(2).toString('hex');
  const clients: MenderClient[] = [];

  for (let i = 1; i <= options.count; i++) {
    const label = `client-${i}`;
    // Locally administered, unique per run: devices of two runs never look alike.
    const mac = `02:e2:${run.slice(0, 2)}:${run.slice(2)}:00:${i.toString(16).padStart(2, '0')}`;
    const dir = join(root, label);
    const dataDir = join(dir, 'data');
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dir, 'device_type'), `device_type=${deviceType}\n`);
    const config = {
      ServerURL: options.serverUrl,
      TenantToken: options.tenantToken,
      UpdatePollIntervalSeconds: options.updatePollSeconds ?? poll,
      InventoryPollIntervalSeconds: poll,
      RetryPollIntervalSeconds: poll,
      DeviceTypeFile: join(dir, 'device_type'),
      // Several daemons side by side: none of them may claim the io.mender.* names on a shared bus; a private bus
      // is each daemon's own.
      DBus: { Enabled: options.privateBus === true || options.dbus === true },
      ...options.config,
    };
    const bus = options.privateBus ? await startBus(dir) : undefined;
    const configPath = join(dir, 'mender.conf');
    writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);
    const logPath = join(dir, 'mender.log');
    const logFd = openSync(logPath, 'a');
    try {
      const child = spawn(
        mender,
        [
          '--no-syslog',
          '--log-level',
          options.logLevel ?? 'info',
          '--config',
          configPath,
          // A missing fallback keeps /var/lib/mender/mender.conf of this machine out of the test.
          '--fallback-config',
          join(dir, 'no-such-fallback.conf'),
          '--data',
          dataDir,
          'daemon',
        ],
        {
          env: {
            ...process.env,
            ...options.env,
            DEVICE_MAC: mac,
            FLOTILLA_E2E_CLIENT: label,
            ...(bus ? { DBUS_SYSTEM_BUS_ADDRESS: bus.address } : {}),
          },
          detached: true,
          stdio: ['ignore', logFd, logFd],
        },
      );
      clients.push(new MenderClient(label, mac, dir, logPath, trackGroup(child, `mender ${label}`), bus?.group));
    } finally {
      closeSync(logFd);
    }
  }

  return {
    clients,
    deviceType,
    artifactName,
    logTails: (lines = 40) =>
      clients
        .map(
          (c) => `--- mender ${c.label} (${c.mac})${c.exited ? `, exited: ${c.exited}` : ''} ---\n${c.logTail(lines)}`,
        )
        .join('\n'),
    async stop() {
      await Promise.all(clients.map((c) => c.stop()));
      rmSync(root, { recursive: true, force: true });
    },
  };
}
