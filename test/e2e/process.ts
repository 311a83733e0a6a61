// Process plumbing shared by the end-to-end harnesses: child processes in their own process group (so stopping one
// also stops whatever it spawned), a last-resort kill when the test process exits, log tails and bounded waits.

import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { it } from 'node:test';

export interface GroupProcess {
  name: string;
  pid: number;
  /** Set once the leader has exited: `code N` or `signal S`. */
  exited?: string;
  done: Promise<void>;
}

const running = new Set<GroupProcess>();

// A test that crashes or is interrupted must not leave servers or daemons behind.
process.once('exit', () => {
  for (const group of running) signalGroup(group.pid, 'SIGKILL');
});

/** Follows a child spawned with `detached: true` (it leads its own process group). */
export function trackGroup(child: ChildProcess, name: string): GroupProcess {
  if (child.pid === undefined) throw new Error(`${name} did not start`);
  const group: GroupProcess = { name, pid: child.pid, done: Promise.resolve() };
  group.done = new Promise((resolve) => {
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      group.exited = signal ? `signal ${signal}` : `code ${code}`;
      resolve();
    };
    if (child.exitCode !== null || child.signalCode !== null) finish(child.exitCode, child.signalCode);
    else child.once('exit', finish);
    child.once('error', (error) => {
      group.exited = `error ${error.message}`;
      resolve();
    });
  });
  running.add(group);
  return group;
}

function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM to the whole group, SIGKILL after a grace period; resolves when the leader is gone. */
export async function killGroup(group: GroupProcess, graceMs = 5000): Promise<void> {
  if (!group.exited) {
    signalGroup(group.pid, 'SIGTERM');
    const timer = new Promise<'late'>((resolve) => setTimeout(resolve, graceMs, 'late').unref());
    if ((await Promise.race([group.done.then(() => 'gone' as const), timer])) === 'late') {
      signalGroup(group.pid, 'SIGKILL');
      await group.done;
    }
  }
  // Children of the leader (scripts a daemon started) may outlive it; they share its group.
  signalGroup(group.pid, 'SIGKILL');
  running.delete(group);
}

export function logTail(path: string, lines: number): string {
  if (!existsSync(path)) return '(no log)';
  return readFileSync(path, 'utf8')
    .split('\n')
    .slice(-lines - 1)
    .join('\n');
}

/**
 * Polls `probe` until it returns something other than undefined. The bound only turns a broken server into a
 * failed test instead of a hung one; tests assert on what the probe saw, never on how long it took.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 60_000, intervalMs = 250 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      // A probe that throws an AbortWait gives up at once (e.g. the process under test died).
      if (error instanceof AbortWait) throw error;
      last = error;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? `; last error: ${last.message}` : '';
      throw new Error(`gave up waiting for ${what}${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Thrown from a `waitFor` probe to stop waiting at once. */
export class AbortWait extends Error {}

/**
 * `it` for a test whose steps build on each other: once a step failed the later ones fail at once, and a failing
 * step prints what `logs()` gathers (the server's and the clients' log tails) before its error.
 */
export function stepper(logs: () => string): (name: string, body: () => Promise<void>) => void {
  let failed = false;
  return (name, body) =>
    it(name, async () => {
      if (failed) throw new Error('an earlier step failed');
      try {
        await body();
      } catch (error) {
        failed = true;
        process.stderr.write(`${logs()}\n`);
        throw error;
      }
    });
}
