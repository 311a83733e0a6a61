// The benchmark harness works end to end at tiny sizes: it seeds a fleet on each dialect, loads the device poll
// with autocannon, creates deployments and reads their statistics, uploads and downloads an artifact, and renders
// a report with every figure next to its baseline. Timings are not asserted (they are the benchmark's business);
// what is asserted is that each piece measured something real and that the report says it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { PG_ADMIN_URL } from '../../bench/fleet.js';
import { render } from '../../bench/report.js';
import { type Benchmark, runBenchmarks, type Sizes } from '../../bench/run.js';
import { dialects } from '../support/app.js';

const TINY: Sizes = {
  fleet: { devices: 300, tokens: 12, groupEvery: 10, checkedInMinutesAgo: 30 },
  poll: { durationSeconds: 1, warmupSeconds: 1, offeredRate: 50, connections: 2, realFleetMaxDevices: 100 },
  ddi: { targets: 10, durationSeconds: 1, warmupSeconds: 1, connections: 2 },
  transfer: { sizeMiB: 2, uploadRuns: 1, baselineRuns: 1, downloadRuns: 1 },
  deploy: { groupRuns: 1, statisticsRuns: 2 },
  simulation: { devices: 20, concurrency: 5 },
};

async function benchDatabases(): Promise<string[]> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL });
  await client.connect();
  try {
    const { rows } = await client.query("select datname from pg_database where datname like 'flotilla_bench_%'");
    return rows.map((r: { datname: string }) => r.datname).sort();
  } finally {
    await client.end();
  }
}

const positive = (value: number, what: string) =>
  assert.ok(Number.isFinite(value) && value > 0, `${what} should be a positive number, got ${value}`);

describe('npm run bench (tiny sizes)', () => {
  it('measures every benchmark against its baseline and reports it', async () => {
    const before = dialects.includes('postgres') ? await benchDatabases() : [];
    const only = new Set<Benchmark>(['poll', 'deploy', 'transfer', 'simulate']);
    const results = await runBenchmarks(TINY, { mode: 'quick', only, dialects });

    assert.deepEqual(
      results.dialects.map((d) => d.dialect),
      dialects,
    );
    for (const d of results.dialects) {
      const { poll, deploy } = d;
      assert.ok(poll && deploy, `${d.dialect}: poll and deploy ran`);
      assert.match(d.database, d.dialect === 'sqlite' ? /^SQLite \d/ : /^PostgreSQL \d/);
      assert.equal(poll.devices, 300);
      assert.equal(poll.tokens, 12);
      for (const side of [poll.baseline, poll.flotilla]) {
        for (const load of [side.fixed, side.max]) {
          positive(load.requestsPerSecond, `${d.dialect} poll requests/s`);
          assert.ok(load.p50Ms <= load.p99Ms, `${d.dialect}: p50 ${load.p50Ms} <= p99 ${load.p99Ms}`);
        }
      }
      // The group is every tenth device of 300.
      assert.equal(deploy.groupSize, 30);
      positive(deploy.all.baselineSeconds, 'create baseline');
      positive(deploy.all.flotillaSeconds, 'create');
      positive(deploy.group.flotillaSeconds, 'group create');
      positive(deploy.statistics.baselineMs, 'statistics baseline');
      positive(deploy.statistics.flotillaMs, 'statistics');
    }

    const { upload, download } = results;
    assert.ok(upload && download, 'transfer ran');
    assert.ok(upload.sizeBytes > 2 * 1024 * 1024, 'the artifact holds the 2 MiB payload');
    positive(upload.uploadMiBps, 'upload MiB/s');
    positive(upload.baselineMiBps, 'SHA-256 MiB/s');
    assert.ok(upload.serverPeakRssMiB >= upload.serverIdleRssMiB, 'peak RSS is at least the idle RSS');
    assert.equal(download.sizeBytes, upload.sizeBytes, 'the download is the uploaded artifact, byte for byte long');
    positive(download.downloadMiBps, 'download MiB/s');

    assert.deepEqual(
      results.simulations.map((x) => x.dialect),
      dialects,
    );
    for (const simulation of results.simulations) {
      assert.equal(simulation.devices, 20);
      // next, downloading, the download, installing, rebooting, success: six round trips a device, on both sides.
      assert.equal(simulation.requests, 20 * 6);
      positive(simulation.flotillaSeconds, 'simulation');
      positive(simulation.baselineSeconds, 'simulation baseline');
    }
    assert.deepEqual(results.skipped, []);

    const report = render(results);
    for (const name of dialects.map((d) => (d === 'sqlite' ? 'SQLite' : 'PostgreSQL'))) {
      assert.match(
        report,
        new RegExp(`\\| Device poll, ${name}: most requests/s .*\\| \\*\\*\\d+\\.\\d+ of baseline\\*\\* \\|`),
      );
      assert.match(report, new RegExp(`\\| Create a deployment for all 300 devices, ${name} \\|`));
      assert.match(report, new RegExp(`\\| 20 devices through a deployment: time to all-success, ${name} \\|`));
    }
    assert.match(report, /\| Artifact upload throughput \| \d+ MiB\/s \| \d+ MiB\/s \|/);
    assert.match(report, /\| Artifact download throughput \(signed link\) \|/);
    assert.match(report, /\*\*Machine:\*\* .+ cores, \d+ GiB memory, Node v\d+/);
    // Every row of the table carries a ratio.
    const rows = report.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| figure'));
    assert.ok(rows.length >= 8);
    for (const row of rows) assert.match(row, /\*\*\d+\.\d+ (of baseline|× baseline)\*\* \|$/, row);

    // Nothing left behind: the PostgreSQL databases are dropped.
    if (dialects.includes('postgres')) assert.deepEqual(await benchDatabases(), before);
  });
});
