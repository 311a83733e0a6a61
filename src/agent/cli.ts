// `flotilla simulate`: reads the flags, runs the simulator with a progress line (redrawn on a terminal, one line
// per update otherwise), prints the summary as JSON, and exits 1 unless the run did what it was told.
import { loadConfig } from '../config.js';
import { runSimulation, type SimulationOptions, type SimulationProgress } from './simulator.js';

function number(flags: Record<string, string>, name: string, fallback: number): number {
  if (flags[name] === undefined) return fallback;
  const value = Number(flags[name]);
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a non-negative number`);
  return value;
}

/** `[#######.............]`: devices that have finished (success or failure), of all, on a terminal. */
export function progressBar(p: SimulationProgress, width = 20): string {
  const finished = (p.statistics?.success ?? 0) + (p.statistics?.failure ?? 0);
  const filled = p.devices > 0 ? Math.min(width, Math.round((finished / p.devices) * width)) : 0;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

export async function simulate(flags: Record<string, string>): Promise<void> {
  const protocol = flags.protocol ?? 'mender';
  if (!['mender', 'ddi', 'kanto', 'mixed'].includes(protocol))
    throw new Error('--protocol: mender, ddi, kanto or mixed');
  for (const required of ['email', 'password']) {
    if (!flags[required]) throw new Error(`simulate needs --${required}`);
  }
  const tty = process.stderr.isTTY;
  let last = '';
  const show = (p: SimulationProgress) => {
    const s = p.statistics;
    const line = s
      ? `enrolled ${p.enrolled}/${p.devices} · success ${s.success ?? 0} · failure ${s.failure ?? 0} · downloading ${s.downloading ?? 0} · installing ${s.installing ?? 0} · pending ${s.pending ?? 0}`
      : `enrolled ${p.enrolled}/${p.devices}`;
    if (line === last) return;
    last = line;
    process.stderr.write(tty ? `\r\x1b[2K${progressBar(p)} ${line}` : `${line}\n`);
  };
  const options: SimulationOptions = {
    // Default: the Flotilla on this host, on the port `serve` would take (FLOTILLA_PORT, else 8080).
    server: (flags.server ?? `http://127.0.0.1:${loadConfig({}).port}`).replace(/\/$/, ''),
    devices: number(flags, 'devices', 10),
    protocol: protocol as SimulationOptions['protocol'],
    email: flags.email,
    password: flags.password,
    tenantToken: flags['tenant-token'],
    ddiTenant: flags['ddi-tenant'],
    mqttUrl: flags['mqtt-url'],
    kantoTopics: flags['kanto-topics'] === 'generic' ? 'generic' : undefined,
    phases: number(flags, 'phases', 0),
    phaseIntervalMs: number(flags, 'phase-interval', 30) * 1000,
    retries: number(flags, 'retries', 0),
    pollIntervalMs: number(flags, 'poll-interval', 5) * 1000,
    failureRatio: number(flags, 'failure-ratio', 0),
    concurrency: number(flags, 'concurrency', 50),
    // No --deploy: the run makes its own artifact; `--deploy none`: no deployment; else an existing artifact's name.
    deploy: flags.deploy === undefined ? undefined : flags.deploy === 'none' ? false : flags.deploy,
    keep: flags.keep === 'true',
    timeoutMs: number(flags, 'timeout', 600) * 1000,
    onProgress: show,
  };
  const summary = await runSimulation(options);
  if (tty) process.stderr.write('\n');
  process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  if (!summary.ok) {
    process.stderr.write(
      `flotilla simulate: not every device did what it was told (refused ${summary.refused}, errors ${summary.errors}, ` +
        `updated ${summary.updated}, failed ${summary.failed}, deployment ${summary.deploymentStatus ?? 'none'})\n`,
    );
    process.exitCode = 1;
  }
}
