// Runs the real mender-connect 2.1 beside a real mender-client 3.4 on a private D-Bus (research/deviceconnect.md
// §1.7): a dbus-daemon of its own, the client with its D-Bus API on, and a PATH shim named `mender` that turns
// mender-connect's `mender check-update|send-inventory` into the signals the daemon understands (there is no
// systemd here to ask for the daemon's pid).
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { type GroupProcess, killGroup, logTail, trackGroup, waitFor } from '../e2e/process.js';

export interface PrivateBus {
  dir: string;
  address: string;
  stop(): Promise<void>;
}

export async function startPrivateBus(): Promise<PrivateBus> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-dbus-'));
  const socket = join(dir, 'bus');
  const address = `unix:path=${socket}`;
  // The session policy lets any name be owned by the same uid, which is all two daemons of one test need.
  const child = spawn('dbus-daemon', ['--session', `--address=${address}`, '--nofork', '--nopidfile'], {
    detached: true,
    stdio: 'ignore',
  });
  const group = trackGroup(child, 'dbus-daemon');
  await waitFor('the private D-Bus to listen', () => {
    if (group.exited) throw new Error(`dbus-daemon exited (${group.exited})`);
    return existsSync(socket) || undefined;
  });
  return {
    dir,
    address,
    async stop() {
      await killGroup(group);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export class MenderConnect {
  private group: GroupProcess | undefined;
  readonly logPath: string;
  private readonly configPath: string;
  private readonly shimDir: string;

  constructor(
    private readonly dir: string,
    private readonly busAddress: string,
    clientPid: number,
  ) {
    this.logPath = join(dir, 'mender-connect.log');
    this.configPath = join(dir, 'mender-connect.conf');
    this.shimDir = join(dir, 'shim');
    const config = {
      ShellCommand: '/bin/bash',
      ShellArguments: ['--norc', '--noprofile', '-i'],
      User: userInfo().username,
      Terminal: { Width: 80, Height: 24 },
      Sessions: { MaxPerUser: 4 },
    };
    writeFileSync(this.configPath, `${JSON.stringify(config)}\n`);
    mkdirSync(this.shimDir, { recursive: true });
    writeFileSync(
      join(this.shimDir, 'mender'),
      `#!/bin/sh\ncase "$1" in check-update) kill -USR1 ${clientPid};; send-inventory) kill -USR2 ${clientPid};; esac\n`,
      { mode: 0o755 },
    );
  }

  start(): void {
    const fd = openSync(this.logPath, 'a');
    try {
      const child = spawn(
        'mender-connect',
        ['--config', this.configPath, '--fallback-config', join(this.dir, 'none.conf'), '--debug', 'daemon'],
        {
          env: {
            ...process.env,
            DBUS_SYSTEM_BUS_ADDRESS: this.busAddress,
            PATH: `${this.shimDir}:${process.env.PATH}`,
          },
          detached: true,
          stdio: ['ignore', fd, fd],
        },
      );
      this.group = trackGroup(child, 'mender-connect');
    } finally {
      closeSync(fd);
    }
  }

  get exited(): string | undefined {
    return this.group?.exited;
  }

  /** SIGKILL: the client's proxy then forwards a close frame with code 1006 to the server. */
  async kill(): Promise<void> {
    if (!this.group) return;
    process.kill(-this.group.pid, 'SIGKILL');
    await killGroup(this.group);
  }

  async stop(): Promise<void> {
    if (this.group) await killGroup(this.group);
  }

  logTail(lines = 40): string {
    return logTail(this.logPath, lines);
  }
}
