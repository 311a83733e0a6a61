// The device's update control pool and control points, on a manual clock: merge and priority, defaults, expiry and
// refresh, clearing, invalid maps, and pauses lifted by local maps, server refreshes and expiry.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { settle } from '../../../src/agent/control/clock.js';
import {
  DeploymentGone,
  fetchRetryDelaySeconds,
  ManualClock,
  type PauseStatus,
  UpdateControl,
} from '../../../src/agent/control/index.js';
import { Invalid } from '../../../src/errors.js';

const deployment = 'e1ba5bee-c45d-11eb-887d-3fd47bdc3990';
const app1 = '01234567-89ab-cdef-0123-456789abcdef';
const app2 = '11111111-2222-3333-4444-555555555555';
const install = 'ArtifactInstall_Enter' as const;
const reboot = 'ArtifactReboot_Enter' as const;
const commit = 'ArtifactCommit_Enter' as const;

// Poll interval 60 s → expiration 120 s, refresh 60 s.
function setup(options: { fetchServerMap?: (id: string) => Promise<unknown>; retryPollCount?: number } = {}) {
  const clock = new ManualClock();
  const control = new UpdateControl({ pollIntervalSeconds: 60, clock, ...options });
  return { clock, control };
}

function map(id: string, states: Record<string, unknown>, priority?: number) {
  return priority === undefined ? { id, states } : { id, priority, states };
}

const pause = { action: 'pause' };

/** Waits (without a clock) until the waiter has reported its pause. */
async function untilPaused(reports: PauseStatus[], count = 1) {
  for (let i = 0; i < 100 && reports.length < count; i++) await settle(1);
  assert.equal(reports.length, count, 'the control point never paused');
}

describe('UpdateControl: refresh interval and expiry', () => {
  it('answers with half the expiration; defaults to the poll interval (expiration 2 × poll)', () => {
    const { control } = setup();
    assert.equal(control.refreshIntervalSeconds, 60);
    assert.equal(control.set(map(app1, { [install]: pause }), 'local'), 60);
    const explicit = new UpdateControl({ pollIntervalSeconds: 60, expirationSeconds: 45, clock: new ManualClock() });
    assert.equal(explicit.refreshIntervalSeconds, 22);
  });

  it('a local map not refreshed within twice the refresh interval expires and gives on_map_expire', async () => {
    const { clock, control } = setup();
    control.set(map(app1, { [install]: { action: 'pause', on_map_expire: 'continue' } }), 'local');
    await clock.advance(119_999);
    assert.equal(control.maps()[0].expired, false);
    assert.equal(control.decide(install), 'pause');
    await clock.advance(1);
    assert.equal(control.maps()[0].expired, true);
    assert.equal(control.decide(install), 'continue');
  });

  it('an expired pause fails by default (on_map_expire defaults to fail for pause)', async () => {
    const { clock, control } = setup();
    control.set(map(app1, { [install]: pause }), 'local');
    await clock.advance(120_000);
    assert.equal(control.decide(install), 'fail');
  });

  it('refreshing a map within the interval keeps it alive', async () => {
    const { clock, control } = setup();
    for (let i = 0; i < 5; i++) {
      control.set(map(app1, { [install]: pause }), 'local');
      await clock.advance(60_000);
    }
    assert.equal(control.maps()[0].expired, false);
    assert.equal(control.decide(install), 'pause');
    assert.equal(clock.pendingTimers, 1, 'only the current map has an expiry watch');
  });

  it('clearExpired drops expired maps only', async () => {
    const { clock, control } = setup();
    control.set(map(app1, { [install]: pause }), 'local');
    await clock.advance(100_000);
    control.set(map(app2, { [install]: pause }), 'local');
    await clock.advance(30_000);
    control.clearExpired();
    assert.deepEqual(
      control.maps().map((m) => m.id),
      [app2],
    );
  });
});

describe('UpdateControl: merge and priority', () => {
  it('no maps, or only default states → continue', () => {
    const { control } = setup();
    assert.equal(control.decide(install), 'continue');
    control.set(map(app1, { [install]: { action: 'continue' } }), 'local');
    assert.equal(control.maps().length, 0, 'an all-default map is not kept');
    assert.equal(control.decide(install), 'continue');
  });

  it('equal priority: fail beats pause beats force_continue', () => {
    const { control } = setup();
    control.set(
      map(app1, { [install]: { action: 'force_continue' }, [commit]: { action: 'force_continue' } }),
      'local',
    );
    control.set(map(app2, { [install]: pause, [commit]: { action: 'fail' } }), 'local');
    assert.equal(control.decide(install), 'pause');
    assert.equal(control.decide(commit), 'fail');
    assert.equal(control.decide(reboot), 'continue');
  });

  it('higher priority wins; force_continue at a higher priority overrides a lower pause', () => {
    const { control } = setup();
    control.set(map(deployment, { [install]: pause }), 'server');
    control.set(map(app1, { [install]: { action: 'force_continue' } }, 5), 'local');
    assert.equal(control.decide(install), 'continue');
    control.set(map(app2, { [install]: { action: 'fail' } }, -1), 'local');
    assert.equal(control.decide(install), 'continue', 'lower priorities are not consulted');
  });

  it('plain continue defers to lower priorities', () => {
    const { control } = setup();
    control.set(map(app1, { [install]: { action: 'continue', on_action_executed: 'pause' } }, 10), 'local');
    control.set(map(app2, { [install]: pause }, -10), 'local');
    assert.equal(control.decide(install), 'pause');
  });

  it('on_action_executed replaces the action after each query of that state', () => {
    const { control } = setup();
    control.set(map(app1, { [install]: { action: 'continue', on_action_executed: 'pause' } }), 'local');
    assert.equal(control.decide(install), 'continue');
    assert.equal(control.decide(install), 'pause');
    assert.equal(control.decide(commit), 'continue', 'other states are untouched');
  });

  it('a local map replaces only its own id and priority; empty states delete just that one', () => {
    const { control } = setup();
    control.set(map(app1, { [install]: pause }, 1), 'local');
    control.set(map(app1, { [install]: { action: 'fail' } }, 2), 'local');
    control.set(map(app1, { [install]: { action: 'force_continue' } }, 2), 'local');
    assert.deepEqual(
      control
        .maps()
        .map((m) => [m.priority, m.states[install]?.action])
        .sort(),
      [
        [1, 'pause'],
        [2, 'force_continue'],
      ],
    );
    assert.equal(control.decide(install), 'continue');
    control.set(map(app1, {}, 2), 'local');
    assert.deepEqual(
      control.maps().map((m) => m.priority),
      [1],
    );
    assert.equal(control.decide(install), 'pause');
  });

  it('a server map replaces every priority of its id; none removes them; another id is refused', () => {
    const { control } = setup();
    control.set(map(deployment, { [install]: pause }, 3), 'local');
    control.set(map(app1, { [install]: pause }), 'local');
    control.set(map(deployment, { [commit]: pause }), 'server', deployment);
    assert.deepEqual(
      control.maps().map((m) => [m.id, m.priority]),
      [
        [app1, 0],
        [deployment, 0],
      ],
    );
    assert.throws(() => control.set(map(app2, { [commit]: pause }), 'server', deployment), Invalid);
    control.set(null, 'server', deployment);
    assert.deepEqual(
      control.maps().map((m) => m.id),
      [app1],
    );
  });

  it('clear(id) removes that id at every priority', () => {
    const { control } = setup();
    control.set(map(deployment, { [install]: pause }, 3), 'local');
    control.set(map(deployment, { [install]: pause }, -3), 'local');
    control.set(map(app1, { [install]: pause }), 'local');
    control.clear(deployment);
    assert.deepEqual(
      control.maps().map((m) => m.id),
      [app1],
    );
  });
});

describe('UpdateControl: invalid maps change nothing', () => {
  const bad: [string, string][] = [
    ['not json', '{'],
    ['id not a UUID', JSON.stringify({ id: 'abc', states: {} })],
    ['priority out of range', JSON.stringify({ id: app2, priority: 11, states: { [install]: pause } })],
    ['priority not an integer', JSON.stringify({ id: app2, priority: 1.5, states: { [install]: pause } })],
    ['unknown state', JSON.stringify({ id: app2, states: { Download_Enter: pause } })],
    ['unknown action', JSON.stringify({ id: app2, states: { [install]: { action: 'wait' } } })],
    [
      'pause on expiry',
      JSON.stringify({ id: app2, states: { [install]: { action: 'pause', on_map_expire: 'pause' } } }),
    ],
    ['unknown field', JSON.stringify({ id: app2, states: {}, extra: 1 })],
    ['an array', '[]'],
    ['a string', '"map"'],
    ['empty', ''],
  ];
  for (const [what, json] of bad) {
    it(what, () => {
      const { control } = setup();
      control.set(map(app1, { [install]: pause }), 'local');
      const before = control.maps();
      assert.throws(() => control.setLocalJson(json), Invalid);
      assert.deepEqual(control.maps(), before);
    });
  }

  it('JSON null is accepted and changes nothing (as the Go client decodes it)', () => {
    const { control } = setup();
    control.set(map(app1, { [install]: pause }), 'local');
    assert.equal(control.setLocalJson('null'), 60);
    assert.equal(control.maps().length, 1);
  });
});

describe('UpdateControl: waitUntilDecided', () => {
  it('continues at once without maps, and fails at once on a fail action', async () => {
    const { control } = setup();
    assert.deepEqual(await control.waitUntilDecided(install), { action: 'continue' });
    control.set(map(app1, { [commit]: { action: 'fail' } }), 'local');
    assert.deepEqual(await control.waitUntilDecided(commit), { action: 'fail', reason: 'Forced a failed update' });
  });

  it('a local pause reports pause_before_* once and lifts when the application sets continue', async () => {
    const { control } = setup();
    control.set(map(app1, { [commit]: pause }), 'local');
    const reports: PauseStatus[] = [];
    const outcome = control.waitUntilDecided(commit, { onPause: (s) => void reports.push(s) });
    await untilPaused(reports);
    control.set(map(app1, { [commit]: pause }), 'local'); // a refresh: still paused, no second report
    await settle();
    control.set(map(app1, { [commit]: { action: 'continue' } }), 'local');
    assert.deepEqual(await outcome, { action: 'continue' });
    assert.deepEqual(reports, ['pause_before_committing']);
  });

  it('a map update that lands while the pause is being reported is not missed', async () => {
    const { control } = setup();
    control.set(map(app1, { [install]: pause }), 'local');
    let done = false;
    const outcome = control
      .waitUntilDecided(install, {
        onPause: async () => {
          await settle(1); // the report is in flight when the application says continue
          control.set(map(app1, { [install]: { action: 'continue' }, [commit]: pause }), 'local');
        },
      })
      .finally(() => {
        done = true;
      });
    await settle();
    assert.equal(done, true, 'decided without any clock time passing');
    assert.deepEqual(await outcome, { action: 'continue' });
  });

  it('a local pause that is not refreshed expires into on_map_expire', async () => {
    const { clock, control } = setup();
    control.set(map(app1, { [install]: { action: 'pause', on_map_expire: 'force_continue' } }), 'local');
    const reports: PauseStatus[] = [];
    let done = false;
    const outcome = control.waitUntilDecided(install, { onPause: (s) => void reports.push(s) }).finally(() => {
      done = true;
    });
    await untilPaused(reports);
    await clock.advance(119_000);
    assert.equal(done, false, 'still paused before expiry');
    await clock.advance(1_000);
    assert.deepEqual(await outcome, { action: 'continue' });
    assert.deepEqual(reports, ['pause_before_installing']);
  });

  it('a server pause lifts when the refreshed server map says continue', async () => {
    let serverMap: unknown = map(deployment, { [install]: pause });
    const fetched: string[] = [];
    const { clock, control } = setup({
      fetchServerMap: async (id) => {
        fetched.push(id);
        return serverMap;
      },
    });
    control.set(serverMap, 'server', deployment);
    const reports: PauseStatus[] = [];
    let done = false;
    const outcome = control
      .waitUntilDecided(install, { deploymentId: deployment, onPause: (s) => void reports.push(s) })
      .finally(() => {
        done = true;
      });
    await untilPaused(reports);
    assert.equal(fetched.length, 1, 'the control point refreshes the server map first');
    // The operator PATCHes the deployment's map; the device sees it at the next refresh (half-life = 60 s).
    serverMap = map(deployment, { [install]: { action: 'continue' } });
    await clock.advance(59_000);
    assert.equal(done, false);
    assert.equal(fetched.length, 1);
    await clock.advance(1_000);
    assert.deepEqual(await outcome, { action: 'continue' });
    assert.equal(fetched.length, 2);
    // Unlike a local one, a server map with only default states stays (so later control points still refresh it).
    assert.deepEqual(
      control.maps().map((m) => [m.id, m.states]),
      [[deployment, {}]],
    );
  });

  it('a server refresh that keeps pausing keeps the server map alive', async () => {
    const serverMap = map(deployment, { [reboot]: pause });
    let fetches = 0;
    const { clock, control } = setup({
      fetchServerMap: async () => {
        fetches++;
        return serverMap;
      },
    });
    control.set(serverMap, 'server', deployment);
    const reports: PauseStatus[] = [];
    let done = false;
    const outcome = control
      .waitUntilDecided(reboot, { deploymentId: deployment, onPause: (s) => void reports.push(s) })
      .finally(() => {
        done = true;
      });
    await untilPaused(reports);
    await clock.advance(600_000);
    assert.equal(done, false, 'refreshed every 60 s, the map never expires');
    assert.ok(fetches >= 10, `refreshed ${fetches} times`);
    assert.deepEqual(reports, ['pause_before_rebooting']);
    control.set(map(app1, { [reboot]: { action: 'force_continue' } }, 1), 'local');
    assert.deepEqual(await outcome, { action: 'continue' });
  });

  it('a 404 on refresh fails the control point (the deployment was aborted)', async () => {
    const { control } = setup({
      fetchServerMap: async () => {
        throw new DeploymentGone();
      },
    });
    control.set(map(deployment, { [install]: pause }), 'server', deployment);
    assert.deepEqual(await control.waitUntilDecided(install, { deploymentId: deployment }), {
      action: 'fail',
      reason: 'The deployment was aborted from the server',
    });
  });

  it('failed refreshes are retried with back-off, then fail', async () => {
    let fetches = 0;
    const { clock, control } = setup({
      fetchServerMap: async () => {
        fetches++;
        throw new Error('connection refused');
      },
      retryPollCount: 3,
    });
    control.set(map(deployment, { [install]: pause }), 'server', deployment);
    let result: unknown;
    const outcome = control.waitUntilDecided(install, { deploymentId: deployment }).then((r) => {
      result = r;
    });
    await settle();
    assert.equal(fetches, 1);
    await clock.advance(60_000);
    assert.equal(fetches, 2);
    await clock.advance(180_000);
    await outcome;
    assert.equal(fetches, 4);
    assert.deepEqual(result, { action: 'fail', reason: 'update control map fetch failed: connection refused' });
  });

  it('a refresh that returns no map counts as a failed fetch, not as removal', async () => {
    const answers: unknown[] = [null, map(deployment, { [install]: { action: 'force_continue' } })];
    const { clock, control } = setup({ fetchServerMap: async () => answers.shift() });
    control.set(map(deployment, { [install]: pause }), 'server', deployment);
    let done = false;
    const outcome = control.waitUntilDecided(install, { deploymentId: deployment }).finally(() => {
      done = true;
    });
    await settle();
    assert.equal(done, false, 'waiting to retry');
    assert.equal(control.hasMap(deployment), true);
    await clock.advance(60_000);
    assert.deepEqual(await outcome, { action: 'continue' });
  });

  it('before a reboot, a pause is queried twice (on_action_executed applies twice there, as in Mender)', async () => {
    const { control } = setup();
    control.set(map(app1, { [reboot]: { action: 'pause', on_action_executed: 'continue' } }), 'local');
    const reports: PauseStatus[] = [];
    assert.deepEqual(await control.waitUntilDecided(reboot, { onPause: (s) => void reports.push(s) }), {
      action: 'continue',
    });
    assert.deepEqual(reports, [], 'no pause is reported');

    control.set(map(app1, { [install]: { action: 'pause', on_action_executed: 'continue' } }), 'local');
    const installReports: PauseStatus[] = [];
    const outcome = control.waitUntilDecided(install, { onPause: (s) => void installReports.push(s) });
    await untilPaused(installReports);
    assert.deepEqual(installReports, ['pause_before_installing'], 'elsewhere the first pause holds');
    control.set(map(app2, { [commit]: pause }), 'local'); // any pool change re-queries: now continue
    assert.deepEqual(await outcome, { action: 'continue' });
  });

  it('rejects with the abort reason and leaves no timers behind', async () => {
    const { clock, control } = setup();
    control.set(map(app1, { [install]: pause }), 'local');
    const abort = new AbortController();
    const reports: PauseStatus[] = [];
    const outcome = control.waitUntilDecided(install, { signal: abort.signal, onPause: (s) => void reports.push(s) });
    await untilPaused(reports);
    abort.abort(new Error('agent stopped'));
    await assert.rejects(outcome, /agent stopped/);
    assert.equal(clock.pendingTimers, 1, 'only the map expiry watch remains');
    control.close();
    assert.equal(clock.pendingTimers, 0);
  });
});

describe('UpdateControl: reboot persistence', () => {
  it('restored maps get the boot expiration; expired ones stay expired', async () => {
    const { clock, control } = setup();
    control.set(map(app1, { [install]: { action: 'pause', on_map_expire: 'fail' } }), 'local');
    await clock.advance(100_000);
    control.set(map(app2, { [commit]: pause }), 'local');
    await clock.advance(30_000);
    const saved = control.snapshot();
    assert.deepEqual(
      saved.expired.map((m) => m.id),
      [app1],
    );

    const after = new UpdateControl({ pollIntervalSeconds: 60, clock });
    after.restore(saved);
    assert.equal(after.decide(install), 'fail', 'the expired map is kept and gives on_map_expire');
    await clock.advance(599_000);
    assert.equal(after.decide(commit), 'pause', 'kept for the boot expiration, not the normal 120 s');
    await clock.advance(1_000);
    assert.equal(after.decide(commit), 'fail');
  });
});

describe('fetchRetryDelaySeconds (Mender GetExponentialBackoffTime)', () => {
  it('starts at one unit, doubles every three tries, caps at the poll interval, then gives up', () => {
    const delays = Array.from({ length: 12 }, (_, tried) => fetchRetryDelaySeconds(tried, 300, 0));
    assert.deepEqual(delays, [60, 60, 60, 120, 120, 120, 240, 240, 240, 300, 300, 300]);
    assert.equal(fetchRetryDelaySeconds(12, 300, 0), undefined);
    assert.equal(fetchRetryDelaySeconds(2, 300, 2), undefined);
  });
});
