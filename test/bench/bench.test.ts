// The benchmark harness works end to end at tiny sizes: it seeds a fleet on each dialect, loads the device poll
// (paced, at full speed, at half that, and as a real fleet), creates deployments and reads their statistics, polls
// as hawkBit DDI targets, uploads and downloads an artifact, takes Kanto devices through a deployment over MQTT,
// and renders a report with every figure next to its baseline. Timings are not asserted (they are the benchmark's business);
// what is asserted is that each piece measured something real and that the report says it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pg from 'pg';
import { createdDatabases, PG_ADMIN_URL } from '../../bench/fleet.js';
import { render } from '../../bench/report.js';
import { BENCHMARKS, runBenchmarks, type Sizes } from '../../bench/run.js';
import { dialects } from '../support/app.js';

const TINY: Sizes = {
  fleet: { devices: 300, tokens: 12, groupEvery: 10, checkedInMinutesAgo: 30 },
  poll: {
    durationSeconds: 1,
    warmupSeconds: 1,
    offeredRate: 50,
    connections: 2,
    halfWindows: 2,
    realFleetSeconds: 1,
    realFleetMaxDevices: 100,
    realFleetRounds: 2,
  },
  ddi: { targets: 10, durationSeconds: 1, warmupSeconds: 1, connections: 2 },
  transfer: { sizeMiB: 2, uploadRuns: 1, baselineRuns: 1, downloadRuns: 1 },
  deploy: { groupRuns: 1, statisticsRuns: 2 },
  simulation: { devices: 20, concurrency: 5 },
  kanto: { devices: 5, concurrency: 5 },
  cluster: {
    fleet: { devices: 200, tokens: 10, groupEvery: 10, checkedInMinutesAgo: 30 },
    durationSeconds: 1,
    warmupSeconds: 1,
    connections: 4,
    processes: 2,
  },
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
    const only = new Set(BENCHMARKS);
    const results = await runBenchmarks(TINY, { mode: 'quick', only, dialects });
    assert.deepEqual(results.failed, [], 'no benchmark failed');

    assert.deepEqual(
      results.dialects.map((d) => d.dialect),
      dialects,
    );
    for (const d of results.dialects) {
      const { poll, deploy, ddi } = d;
      assert.ok(poll && deploy && ddi, `${d.dialect}: poll, deploy and ddi ran`);
      assert.match(d.database, d.dialect === 'sqlite' ? /^SQLite \d/ : /^PostgreSQL \d/);
      assert.equal(poll.devices, 300);
      assert.equal(poll.tokens, 12);
      for (const side of [poll.baseline, poll.flotilla]) {
        for (const load of [side.fixed, side.max, side.half]) {
          positive(load.requestsPerSecond, `${d.dialect} poll requests/s`);
          assert.ok(load.p50Ms <= load.p99Ms, `${d.dialect}: p50 ${load.p50Ms} <= p99 ${load.p99Ms}`);
        }
      }
      // Paced runs send exactly rate × duration requests; the half load is half of Flotilla's own most.
      assert.equal(poll.flotilla.fixed.requests, 50);
      assert.equal(poll.halfRate, Math.max(1, Math.round(poll.flotilla.max.requestsPerSecond / 2)));
      assert.equal(poll.baseline.half.requests, poll.halfRate);
      // Two half-load windows each side, taking turns; the figure is the lower middle one's.
      for (const side of ['flotilla', 'baseline'] as const) {
        assert.equal(poll.halfP99Ms[side].length, 2);
        assert.equal(poll[side].half.p99Ms, Math.min(...poll.halfP99Ms[side]));
      }
      // The real fleet: as many fresh devices as the bare server's rate needs, at most 100 here, each polling once a
      // pass, and the bare server given the very same pass as its baseline.
      const real = poll.realFleet;
      assert.equal(real.needed, Math.ceil(poll.baseline.max.requestsPerSecond));
      assert.equal(real.devices, Math.max(2, Math.min(real.needed, 100)));
      // Two steady rounds (each set back again, each with its bare pass); the figure is the lower ratio's round.
      assert.equal(real.steadyRounds.length, 2);
      const ratios = real.steadyRounds.map((x) => x.requestsPerSecond / x.bare.requestsPerSecond);
      assert.equal(real.steady, real.steadyRounds[ratios.indexOf(Math.min(...ratios))]);
      for (const pass of [real.firstContact, ...real.steadyRounds]) {
        assert.equal(pass.polls.requests, real.devices);
        assert.equal(pass.bare.requests, real.devices, 'the baseline is the same pass');
        positive(pass.bare.requestsPerSecond, `${d.dialect} real-fleet baseline requests/s`);
        assert.equal(pass.checkIns, real.devices, 'every real-fleet poll wrote its check-in');
        positive(pass.requestsPerSecond, `${d.dialect} real-fleet requests/s`);
        assert.ok(pass.requestsPerSecond <= pass.polls.requestsPerSecond, 'the last check-in writes count too');
      }
      assert.equal(ddi.targets, 10);
      assert.match(ddi.answer, /^\{"config":\{"polling":\{"sleep":"\d\d:\d\d:\d\d"\}\}/);
      positive(ddi.flotilla.requestsPerSecond, `${d.dialect} DDI requests/s`);
      positive(ddi.baseline.requestsPerSecond, `${d.dialect} DDI baseline requests/s`);
      // The group is every tenth device of 300.
      assert.equal(deploy.groupSize, 30);
      positive(deploy.all.baselineSeconds, 'create baseline');
      positive(deploy.all.flotillaSeconds, 'create');
      positive(deploy.group.flotillaSeconds, 'group create');
      positive(deploy.statistics.baselineMs, 'statistics baseline');
      positive(deploy.statistics.flotillaMs, 'statistics');
    }

    // The folder store only here (the S3 half starts a radosgw: bench/transfer.ts, run by `npm run bench`).
    assert.deepEqual(
      results.transfers.map((x) => x.store),
      ['folder'],
    );
    const [{ upload, download, payload }] = results.transfers;
    assert.ok(upload.sizeBytes > 2 * 1024 * 1024, 'the artifact holds the 2 MiB payload');
    positive(upload.uploadMiBps, 'upload MiB/s');
    positive(upload.baselineMiBps, 'bare upload server MiB/s');
    assert.ok(upload.serverPeakRssMiB >= upload.serverIdleRssMiB, 'peak RSS is at least the idle RSS');
    assert.equal(download.sizeBytes, upload.sizeBytes, 'the download is the uploaded artifact, byte for byte long');
    positive(download.downloadMiBps, 'download MiB/s');
    assert.equal(payload.sizeBytes, 2 * 1024 * 1024, 'the payload file is the 2 MiB rootfs image');
    positive(payload.downloadMiBps, 'payload file MiB/s');
    positive(payload.serverPeakRssMiB, 'RSS sampled during the downloads');

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
    assert.deepEqual(
      results.kanto.map((x) => x.dialect),
      dialects,
    );
    for (const kanto of results.kanto) {
      assert.equal(kanto.devices, 5);
      // apply to each device; its answer, 7 feedback messages and its new current state back.
      assert.equal(kanto.commands, 5);
      assert.equal(kanto.messages, 5 * 10);
      positive(kanto.flotillaSeconds, 'kanto');
      positive(kanto.baselineSeconds, 'kanto baseline');
      assert.ok(kanto.missedRefresh >= 0 && kanto.missedRefresh <= kanto.devices);
    }
    if (dialects.includes('postgres')) {
      assert.deepEqual(results.skipped, []);
      const cluster = results.cluster;
      assert.ok(cluster, 'the cluster benchmark ran');
      positive(cluster.baseline.requestsPerSecond, 'cluster baseline');
      assert.deepEqual(
        cluster.steps.map((step) => step.processes),
        [1, 2],
      );
      for (const step of cluster.steps) {
        positive(step.polls.requestsPerSecond, `cluster with ${step.processes} process(es)`);
        // HAProxy sent work to every process of the step, and to no other.
        assert.deepEqual(Object.keys(step.served).sort(), ['node1', 'node2'].slice(0, step.processes));
        for (const served of Object.values(step.served)) assert.ok(served > 0);
      }
    } else {
      assert.deepEqual(results.skipped, ['Device polls through HAProxy with several processes: PostgreSQL only']);
    }

    const report = render(results);
    for (const name of dialects.map((d) => (d === 'sqlite' ? 'SQLite' : 'PostgreSQL'))) {
      assert.match(
        report,
        new RegExp(`\\| Device poll, ${name}: most requests/s .*\\| \\*\\*\\d+\\.\\d+ of baseline\\*\\* \\|`),
      );
      assert.match(report, new RegExp(`\\| Create a deployment for all 300 devices, ${name} \\|`));
      assert.match(report, new RegExp(`\\| 20 devices through a deployment: time to all-success, ${name} \\|`));
      assert.match(
        report,
        new RegExp(
          `\\| Device poll, ${name}: p99 latency at half of Flotilla's most \\([\\d,]+ req/s offered; median of 2 windows each side; Flotilla [\\d.]+ ms, [\\d.]+ ms, baseline [\\d.]+ ms, [\\d.]+ ms\\) \\|`,
        ),
      );
      assert.match(
        report,
        new RegExp(`\\| Device poll as a real fleet polls, ${name}: most requests/s .* \\| ≥ 0\\.[45] of baseline`),
      );
      assert.match(
        report,
        new RegExp(
          `\\| Device poll, first contact, ${name}: most requests/s .*\\| \\*\\*\\d+\\.\\d+ of baseline\\*\\* \\|`,
        ),
      );
      assert.match(
        report,
        new RegExp(`\\| hawkBit DDI poll, ${name}: most requests/s .*\\| \\*\\*\\d+\\.\\d+ of baseline\\*\\* \\|`),
      );
      assert.match(
        report,
        new RegExp(
          `\\| 5 Kanto devices through a desired-state deployment over MQTT: time to all-success, ${name} \\|`,
        ),
      );
    }
    if (dialects.includes('postgres')) {
      assert.match(
        report,
        /\| Device poll through HAProxy, 2 processes on PostgreSQL: most requests\/s \(load [\d.]+; [\d.]+ × 1 process\) \|/,
      );
    }
    assert.match(report, /\| Artifact upload throughput, folder store \([^|]+\) \| \d+ MiB\/s \| \d+ MiB\/s \|/);
    assert.match(report, /\| Artifact download throughput, folder store \(signed link[^|]+\) \|/);
    assert.match(report, /\| hawkBit payload file download, folder store \([^|]+\) \| \d+ MiB\/s \| \d+ MiB\/s \|/);
    assert.match(report, /\*\*Machine:\*\* .+ cores, \d+ GiB memory, Node v\d+/);
    assert.match(report, /^## Where the time goes \(profiled on \d{4}-\d\d-\d\d, commit [0-9a-f]{7,}\)$/m);
    // Every row of the figures table carries a ratio, and some a target (the tables of the static "Where the time
    // goes" section further down are not figures of this run).
    const lines = report.split('\n');
    const head = lines.findIndex((l) => l.startsWith('| figure |'));
    const end = lines.indexOf('', head);
    const rows = lines.slice(head + 2, end);
    assert.ok(rows.every((l) => l.startsWith('| ')));
    assert.ok(rows.length >= 8);
    for (const row of rows) assert.match(row, /\*\*\d+\.\d+ (of baseline|× baseline)\*\* \| [^|]* \|$/, row);

    // Nothing left behind: the PostgreSQL databases this run made are dropped (other runs may be going on).
    if (dialects.includes('postgres')) {
      assert.ok(createdDatabases.length > 0);
      assert.deepEqual(
        (await benchDatabases()).filter((name) => createdDatabases.includes(name)),
        [],
      );
    }
  });
});
