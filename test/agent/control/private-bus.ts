// A private D-Bus daemon for tests (never the machine's system or session bus), and the command-line clients device
// applications would use against it: dbus-send and gdbus.
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function hasCommand(command: string): boolean {
  return spawnSync('which', [command], { stdio: 'ignore' }).status === 0;
}

export interface PrivateBus {
  address: string;
  stop(): Promise<void>;
}

/** The session bus configuration, listening on a socket in a fresh temp dir (not the user's session bus). */
export async function startPrivateBus(): Promise<PrivateBus> {
  const dir = await mkdtemp(join(tmpdir(), 'flotilla-dbus-'));
  const daemon: ChildProcess = spawn(
    'dbus-daemon',
    ['--session', `--address=unix:path=${join(dir, 'bus')}`, '--print-address', '--nofork'],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  const address = await new Promise<string>((resolve, reject) => {
    let out = '';
    daemon.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n')) resolve(line.trim());
    });
    daemon.once('error', reject);
    daemon.once('exit', (code) => reject(new Error(`dbus-daemon exited with ${code}`)));
  });
  return {
    address,
    async stop() {
      if (daemon.exitCode === null) {
        const exited = new Promise((resolve) => daemon.once('exit', resolve));
        daemon.kill();
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a bus client asynchronously (a sync spawn would block the service answering in this same process). */
export function runOnBus(bus: PrivateBus, command: string, args: string[]): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(
      command,
      args,
      { env: { ...process.env, DBUS_SESSION_BUS_ADDRESS: bus.address }, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const dest = 'io.mender.UpdateManager';
const path = '/io/mender/UpdateManager';

/** dbus-send --print-reply ... io.mender.Update1.SetUpdateControlMap string:<json> */
export function dbusSendSetMap(bus: PrivateBus, json: string, argType = 'string'): Promise<CommandResult> {
  return runOnBus(bus, 'dbus-send', [
    `--bus=${bus.address}`,
    '--print-reply',
    `--dest=${dest}`,
    path,
    'io.mender.Update1.SetUpdateControlMap',
    `${argType}:${json}`,
  ]);
}

/** gdbus call ... --method io.mender.Update1.SetUpdateControlMap <json> */
export function gdbusSetMap(bus: PrivateBus, json: string): Promise<CommandResult> {
  return runOnBus(bus, 'gdbus', [
    'call',
    '--address',
    bus.address,
    '--dest',
    dest,
    '--object-path',
    path,
    '--method',
    'io.mender.Update1.SetUpdateControlMap',
    json,
  ]);
}
