// Several `flotilla serve` processes behind HAProxy, as deploy/multi-node/ sets them up: one fresh PostgreSQL database
// they share, the same settings for all (`env`: the object store, the external broker), and HAProxy (./haproxy.ts).
// A node can be killed with SIGKILL and started again on its port; HAProxy's health checks take it out and back in.
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type FlotillaServer, startFlotilla } from '../e2e/flotilla-server.js';
import { logTail } from '../e2e/process.js';
import { type Haproxy, startHaproxy } from './haproxy.js';

export { haproxyMissing } from './haproxy.js';

export interface Cluster {
  /** HAProxy's address: what devices and operators use. */
  url: string;
  /** The processes, in order; the first owns the database (its stop drops it). */
  nodes: FlotillaServer[];
  databaseUrl: string;
  /** SIGKILL to node `index` (not the first): no shutdown, no lease released, connections cut. */
  kill(index: number): Promise<void>;
  /** Starts node `index` again on its port, sharing the database. */
  restart(index: number): Promise<void>;
  /** Sessions (requests) HAProxy sent each node (its stats' `stot`), by node name. */
  served(): Promise<Record<string, number>>;
  /** The error lines (pino level 50 and up) of every node's log so far, the killed ones' included. */
  errors(): string[];
  /** Stops everything; `keepLogsIn`: copy every node's log there first (a failed run's evidence). */
  stop(keepLogsIn?: string): Promise<void>;
}

export async function startCluster(count: number, env: Record<string, string>): Promise<Cluster> {
  const nodes: FlotillaServer[] = [];
  const errorsOfKilled: string[] = [];
  const errorLines = (node: FlotillaServer) =>
    logTail(node.logPath, 100_000)
      .split('\n')
      .filter((line) => /"level":(50|60)/.test(line));
  let haproxy: Haproxy | undefined;
  const killedLogs: string[] = [];
  const stop = async (keepLogsIn?: string) => {
    if (keepLogsIn) {
      mkdirSync(keepLogsIn, { recursive: true });
      for (const [i, log] of killedLogs.entries()) writeFileSync(join(keepLogsIn, `killed${i + 1}.log`), log);
      for (const [i, node] of nodes.entries()) copyFileSync(node.logPath, join(keepLogsIn, `node${i + 1}.log`));
    }
    await haproxy?.stop();
    // The first node last: it drops the database.
    for (const node of [...nodes].reverse()) await node.stop();
  };
  try {
    nodes.push(await startFlotilla('postgres', { env }));
    // The others at once: the first made the schema, and each start is mostly loading the code (seconds of CPU).
    const others = await Promise.allSettled(
      Array.from({ length: count - 1 }, () => startFlotilla('postgres', { env, sharing: nodes[0] })),
    );
    for (const started of others) if (started.status === 'fulfilled') nodes.push(started.value);
    const failed = others.find((started) => started.status === 'rejected');
    if (failed) throw failed.reason;
    haproxy = await startHaproxy(nodes.map((n) => new URL(n.url).host));
    const proxy = haproxy;
    return {
      url: proxy.url,
      nodes,
      databaseUrl: nodes[0].databaseUrl as string,
      async kill(index) {
        if (index === 0) throw new Error('the first node owns the database; kill another');
        const node = nodes[index];
        process.kill(-node.process.pid, 'SIGKILL');
        await node.process.done;
        errorsOfKilled.push(...errorLines(node));
        killedLogs.push(logTail(node.logPath, 1_000_000));
        await node.stop();
      },
      async restart(index) {
        const old = nodes[index];
        nodes[index] = await startFlotilla('postgres', {
          env,
          sharing: nodes[0],
          port: Number(new URL(old.url).port),
        });
      },
      served: () => proxy.served(),
      errors: () => [...errorsOfKilled, ...nodes.flatMap(errorLines)],
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
