// HAProxy as deploy/multi-node/ runs it, for tests and benchmarks: the folder's own haproxy.cfg with a stats listener
// and one `server` line per backend appended, in a temporary folder, on random ports; waits until every backend is
// up. `served()` reads the stats: the sessions (`stot`, one per request) HAProxy sent each backend.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../e2e/flotilla-server.js';
import { AbortWait, killGroup, logTail, trackGroup, waitFor } from '../e2e/process.js';

const HAPROXY_CFG = resolve(import.meta.dirname, '../../deploy/multi-node/haproxy.cfg');

export function haproxyMissing(): string | undefined {
  return spawnSync('sh', ['-c', 'command -v haproxy']).status === 0
    ? undefined
    : 'haproxy not installed (apt-get install haproxy)';
}

export interface Haproxy {
  url: string;
  /** Sessions HAProxy sent each backend (`node1`, `node2`, …) so far: its stats' `stot`, one per request. */
  served(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/** HAProxy in front of `backends` (`host:port` each, named node1, node2, … in order). */
export async function startHaproxy(backends: string[]): Promise<Haproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-haproxy-'));
  const [port, statsPort] = [await freePort(), await freePort()];
  const stats = `\nfrontend stats\n    bind 127.0.0.1:${statsPort}\n    stats enable\n    stats uri /stats\n`;
  const servers = backends.map((address, i) => `    server node${i + 1} ${address}\n`).join('');
  const cfg = join(dir, 'haproxy.cfg');
  // The stats frontend goes before the backend, whose server lines end the file (as start.sh appends them).
  const template = readFileSync(HAPROXY_CFG, 'utf8');
  writeFileSync(cfg, template.replace('\nbackend flotilla', `${stats}\nbackend flotilla`) + servers);
  const logPath = join(dir, 'haproxy.log');
  const logFd = openSync(logPath, 'a');
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn('haproxy', ['-W', '-db', '-f', cfg], {
      env: { ...process.env, FLOTILLA_LB_BIND: `127.0.0.1:${port}` },
      detached: true,
      stdio: ['ignore', logFd, logFd],
    });
  } finally {
    closeSync(logFd);
  }
  const group = trackGroup(child, 'haproxy');
  const stop = async () => {
    await killGroup(group);
    rmSync(dir, { recursive: true, force: true });
  };
  const statsUrl = `http://127.0.0.1:${statsPort}/stats;csv`;
  const rows = async () =>
    (
      await fetch(statsUrl)
        .then((r) => r.text())
        .catch(() => '')
    ).split('\n');
  try {
    await waitFor('HAProxy to see every backend up', async () => {
      if (group.exited) throw new AbortWait(`haproxy exited (${group.exited}):\n${logTail(logPath, 20)}`);
      const up = (await rows()).filter((line) => /^flotilla,node\d+,/.test(line) && line.includes(',UP,'));
      return up.length === backends.length ? true : undefined;
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    async served() {
      const lines = await rows();
      const total = lines[0].replace(/^# /, '').split(',').indexOf('stot');
      const out: Record<string, number> = {};
      for (const cells of lines.map((line) => line.split(','))) {
        if (cells[0] === 'flotilla' && /^node\d+$/.test(cells[1])) out[cells[1]] = Number(cells[total]);
      }
      return out;
    },
    stop,
  };
}
