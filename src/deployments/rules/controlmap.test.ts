import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Invalid } from '../../errors.js';
import {
  type ControlMap,
  clearExpired,
  controlMapStates,
  deploymentControlMap,
  isExpired,
  mergeEqualPriority,
  type PooledControlMap,
  parseControlMap,
  pauseStatusFor,
  queryControlMaps,
  refreshSeconds,
  sanitizeControlMap,
  setLocalMap,
  setServerMap,
  validateControlMap,
} from './controlmap.js';

const id = '01234567-89ab-cdef-0123-456789abcdef';
const deploymentId = 'e1ba5bee-c45d-11eb-887d-3fd47bdc3990';
const other = '11111111-2222-3333-4444-555555555555';

function invalid(input: unknown, message: string) {
  assert.throws(
    () => validateControlMap(input),
    (error: unknown) => error instanceof Invalid && error.message === message,
  );
}

describe('validating a control map as the 3.4 client does', () => {
  it('accepts the documented example and fills defaults when sanitized', () => {
    const map = parseControlMap({
      id,
      priority: 1,
      states: { ArtifactInstall_Enter: { action: 'pause' }, ArtifactCommit_Enter: { action: 'force_continue' } },
    });
    assert.deepEqual(map, {
      id,
      priority: 1,
      states: {
        ArtifactInstall_Enter: { action: 'pause', on_map_expire: 'fail', on_action_executed: 'pause' },
        ArtifactCommit_Enter: {
          action: 'force_continue',
          on_map_expire: 'force_continue',
          on_action_executed: 'force_continue',
        },
      },
    });
  });

  it('matches field names case-insensitively, like Go (Mender tests send Priority and States)', () => {
    assert.deepEqual(
      validateControlMap({ ID: id, Priority: 2, States: { ArtifactReboot_Enter: { Action: 'fail' } } }),
      {
        id,
        priority: 2,
        states: { ArtifactReboot_Enter: { action: 'fail' } },
      },
    );
  });

  it('defaults priority to 0 and states to none, and treats null as absent', () => {
    assert.deepEqual(validateControlMap({ id }), { id, priority: 0, states: {} });
    assert.deepEqual(validateControlMap({ id, priority: null, states: { ArtifactInstall_Enter: null } }), {
      id,
      priority: 0,
      states: { ArtifactInstall_Enter: {} },
    });
  });

  it('rejects unknown fields at every level', () => {
    invalid({ id, extra: 1 }, 'Update Control Map contains unsupported fields: json: unknown field "extra"');
    invalid(
      { id, states: { ArtifactInstall_Enter: { action: 'pause', when: 'now' } } },
      'Update Control Map contains unsupported fields: json: unknown field "when"',
    );
    invalid('pause', 'Update Control Map contains unsupported fields: the map must be an object');
  });

  it('requires a UUID id and a priority in [-10, 10]', () => {
    invalid({ priority: 1 }, 'ID must be a UUID');
    invalid({ id: 'not-a-uuid' }, 'ID must be a UUID');
    invalid({ id, priority: 11 }, 'invalid Priority 11, value must be in the range [-10, 10]');
    invalid({ id, priority: -11 }, 'invalid Priority -11, value must be in the range [-10, 10]');
    invalid({ id, priority: 1.5 }, 'Update Control Map contains unsupported fields: priority must be an integer');
    assert.equal(validateControlMap({ id, priority: -10 }).priority, -10);
    assert.equal(validateControlMap({ id: id.toUpperCase(), priority: 10 }).priority, 10);
  });

  it('allows only the three states and the documented values', () => {
    invalid({ id, states: { ArtifactDownload_Enter: { action: 'pause' } } }, 'invalid value "ArtifactDownload_Enter"');
    invalid({ id, states: { artifactinstall_enter: { action: 'pause' } } }, 'invalid value "artifactinstall_enter"');
    invalid({ id, states: { ArtifactInstall_Enter: { action: 'stop' } } }, 'invalid value "stop"');
    invalid({ id, states: { ArtifactInstall_Enter: { on_map_expire: 'pause' } } }, 'invalid value "pause"');
    invalid({ id, states: { ArtifactInstall_Enter: { on_action_executed: 'later' } } }, 'invalid value "later"');
    for (const state of controlMapStates) {
      assert.doesNotThrow(() =>
        validateControlMap({
          id,
          states: { [state]: { action: 'pause', on_map_expire: 'force_continue', on_action_executed: 'continue' } },
        }),
      );
    }
  });

  it('drops rules that are all continue when sanitizing, and derives on_map_expire from the action', () => {
    const map = sanitizeControlMap({
      id,
      priority: 0,
      states: {
        ArtifactInstall_Enter: {},
        ArtifactReboot_Enter: { action: 'continue', on_action_executed: 'pause' },
        ArtifactCommit_Enter: { action: 'fail' },
      },
    });
    assert.deepEqual(Object.keys(map.states).sort(), ['ArtifactCommit_Enter', 'ArtifactReboot_Enter']);
    assert.deepEqual(map.states.ArtifactCommit_Enter, {
      action: 'fail',
      on_map_expire: 'fail',
      on_action_executed: 'fail',
    });
    assert.equal(map.states.ArtifactReboot_Enter?.on_map_expire, 'continue');
  });

  it("gives a deployment's map the deployment id, whatever id was sent", () => {
    assert.equal(deploymentControlMap({ Priority: 1 }, deploymentId).id, deploymentId);
    assert.equal(deploymentControlMap({ id: other, priority: 1 }, deploymentId).id, deploymentId);
    assert.equal(deploymentControlMap({ Id: 'junk' }, deploymentId).id, deploymentId);
    assert.throws(() => deploymentControlMap({ priority: 20 }, deploymentId), Invalid);
  });
});

const pooled = (map: ControlMap, stampedAt = 0, expirationSeconds = 60): PooledControlMap => ({
  map,
  stampedAt,
  expirationSeconds,
});
const mapOf = (mapId: string, priority: number, states: object) => parseControlMap({ id: mapId, priority, states });

describe('merging control maps', () => {
  it('at equal priority: fail beats pause beats force_continue, which becomes continue; continue defers', () => {
    assert.equal(mergeEqualPriority(['continue', 'pause', 'fail']), 'fail');
    assert.equal(mergeEqualPriority(['force_continue', 'pause']), 'pause');
    assert.equal(mergeEqualPriority(['continue', 'force_continue']), 'continue');
    assert.equal(mergeEqualPriority(['continue']), undefined);
    assert.equal(mergeEqualPriority([]), undefined);
  });

  it('lets the highest priority with a decisive action win', () => {
    const pool = [
      pooled(mapOf(id, 5, { ArtifactInstall_Enter: { action: 'force_continue' } })),
      pooled(mapOf(other, 1, { ArtifactInstall_Enter: { action: 'fail' } })),
    ];
    assert.equal(queryControlMaps(pool, 'ArtifactInstall_Enter', 0).action, 'continue');
    const reversed = [
      pooled(mapOf(id, 1, { ArtifactInstall_Enter: { action: 'force_continue' } })),
      pooled(mapOf(other, 5, { ArtifactInstall_Enter: { action: 'pause' } })),
    ];
    assert.equal(queryControlMaps(reversed, 'ArtifactInstall_Enter', 0).action, 'pause');
  });

  it('falls through a plain continue to lower priorities, and continues when nothing speaks', () => {
    const pool = [
      pooled(mapOf(id, 5, { ArtifactInstall_Enter: { action: 'continue', on_action_executed: 'pause' } })),
      pooled(mapOf(other, 1, { ArtifactInstall_Enter: { action: 'pause' } })),
    ];
    assert.equal(queryControlMaps(pool, 'ArtifactInstall_Enter', 0).action, 'pause');
    assert.equal(queryControlMaps(pool, 'ArtifactCommit_Enter', 0).action, 'continue');
    assert.equal(queryControlMaps([], 'ArtifactCommit_Enter', 0).action, 'continue');
  });

  it('replaces a consulted action with on_action_executed, leaving lower priorities untouched', () => {
    const pool = [
      pooled(mapOf(id, 5, { ArtifactInstall_Enter: { action: 'pause', on_action_executed: 'continue' } })),
      pooled(mapOf(other, 1, { ArtifactInstall_Enter: { action: 'force_continue', on_action_executed: 'fail' } })),
    ];
    const first = queryControlMaps(pool, 'ArtifactInstall_Enter', 0);
    assert.equal(first.action, 'pause');
    assert.equal(first.pool[0].map.states.ArtifactInstall_Enter?.action, 'continue');
    assert.equal(first.pool[1].map.states.ArtifactInstall_Enter?.action, 'force_continue');
    assert.equal(pool[0].map.states.ArtifactInstall_Enter?.action, 'pause', 'input pool is not mutated');
    const second = queryControlMaps(first.pool, 'ArtifactInstall_Enter', 0);
    assert.equal(second.action, 'continue');
    assert.equal(second.pool[1].map.states.ArtifactInstall_Enter?.action, 'fail');
    assert.equal(queryControlMaps(second.pool, 'ArtifactInstall_Enter', 0).action, 'fail');
  });

  it('uses on_map_expire once a map is not refreshed within twice its refresh time', () => {
    assert.equal(refreshSeconds(60), 30);
    assert.equal(refreshSeconds(61), 30);
    const paused = pooled(mapOf(id, 0, { ArtifactReboot_Enter: { action: 'pause' } }), 1_000, 60);
    assert.equal(isExpired(paused, 1_000 + 59_999), false);
    assert.equal(isExpired(paused, 1_000 + 60_000), true);
    assert.equal(queryControlMaps([paused], 'ArtifactReboot_Enter', 60_999).action, 'pause');
    assert.equal(queryControlMaps([paused], 'ArtifactReboot_Enter', 61_000).action, 'fail');
    const lenient = pooled(
      mapOf(id, 0, { ArtifactReboot_Enter: { action: 'pause', on_map_expire: 'force_continue' } }),
    );
    assert.equal(queryControlMaps([lenient], 'ArtifactReboot_Enter', 60_000).action, 'continue');
    assert.deepEqual(clearExpired([paused, pooled(paused.map, 50_000)], 61_000), [pooled(paused.map, 50_000)]);
  });

  it('maps a pause at each state to the status the device reports', () => {
    assert.equal(pauseStatusFor('ArtifactInstall_Enter'), 'pause_before_installing');
    assert.equal(pauseStatusFor('ArtifactReboot_Enter'), 'pause_before_rebooting');
    assert.equal(pauseStatusFor('ArtifactCommit_Enter'), 'pause_before_committing');
  });
});

describe('the pool of maps on a device', () => {
  const pause = (mapId: string, priority: number) =>
    mapOf(mapId, priority, { ArtifactInstall_Enter: { action: 'pause' } });

  it('replaces a local map of the same id and priority, keeps other priorities, and deletes on empty states', () => {
    let pool = setLocalMap([], pause(id, 1), 0, 60);
    pool = setLocalMap(pool, pause(id, 2), 0, 60);
    pool = setLocalMap(pool, pause(id, 1), 10, 60);
    assert.deepEqual(
      pool.map((p) => [p.map.priority, p.stampedAt]),
      [
        [2, 0],
        [1, 10],
      ],
    );
    pool = setLocalMap(pool, { id, priority: 2, states: {} }, 20, 60);
    assert.deepEqual(
      pool.map((p) => p.map.priority),
      [1],
    );
  });

  it("replaces every priority of the server's map, removes it when the server sends none, refuses another id", () => {
    let pool = setLocalMap([], pause(other, 0), 0, 60);
    pool = setServerMap(pool, deploymentId, pause(deploymentId, 1), 0, 60);
    pool = setServerMap(pool, deploymentId, pause(deploymentId, 2), 5, 60);
    assert.deepEqual(
      pool.map((p) => [p.map.id, p.map.priority]),
      [
        [other, 0],
        [deploymentId, 2],
      ],
    );
    assert.deepEqual(
      setServerMap(pool, deploymentId, undefined, 6, 60).map((p) => p.map.id),
      [other],
    );
    assert.throws(() => setServerMap(pool, deploymentId, pause(other, 1), 0, 60), Invalid);
  });
});
