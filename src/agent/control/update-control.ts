// The device's pool of update control maps and the control points of an update (ArtifactInstall_Enter,
// ArtifactReboot_Enter, ArtifactCommit_Enter), as the Mender client 3.x runs them (app/updatemanager.go,
// app/state.go controlMapState/fetchControlMapState/controlMapPauseState, app/mender.go HandleControlMap).
// The map rules themselves (validation, defaults, merge by priority, expiry) are the shared ones in
// src/deployments/rules/controlmap.ts, so the server and the agent cannot disagree about a map.
import {
  type ControlMap,
  type ControlMapState,
  clearExpired,
  isExpired,
  type PooledControlMap,
  parseControlMap,
  pauseStatusFor,
  queryControlMaps,
  refreshSeconds,
  setLocalMap,
  setServerMap,
} from '../../deployments/rules/controlmap.js';
import type { PauseStatus } from '../../deployments/rules/status.js';
import { Invalid } from '../../errors.js';
import { type Clock, sleep, systemClock, type Timer } from './clock.js';

export type MapSource = 'local' | 'server';
export type ControlAction = 'continue' | 'pause' | 'fail';

/** Mender's defaults: UpdatePollIntervalSeconds 1800, UpdateControlMapBootExpirationTimeSeconds 600. */
export const defaultPollIntervalSeconds = 1800;
export const defaultBootExpirationSeconds = 600;

/**
 * Fetches the server's current map for a deployment (GET /api/devices/v2/deployments/device/deployments/{id}/
 * update_control_map) and returns its `update_control_map` value. Throw `DeploymentGone` on 404 (the deployment was
 * aborted); any other throw, and a null/absent map, is retried with back-off.
 */
export type ServerMapFetcher = (deploymentId: string, signal?: AbortSignal) => Promise<unknown>;

/** Thrown by a ServerMapFetcher when the server no longer has the deployment (HTTP 404). */
export class DeploymentGone extends Error {
  constructor(message = 'The deployment was aborted from the server') {
    super(message);
    this.name = 'DeploymentGone';
  }
}

export interface UpdateControlOptions {
  /** UpdatePollIntervalSeconds: caps a pause's wait before asking the server again, and the fetch back-off. */
  pollIntervalSeconds?: number;
  /** UpdateControlMapExpirationTimeSeconds; Mender's default is 2 × the poll interval. */
  expirationSeconds?: number;
  /** UpdateControlMapBootExpirationTimeSeconds: lifetime given to maps restored after a reboot. */
  bootExpirationSeconds?: number;
  /** RetryPollCount: fetch attempts before a control point fails; 0 = Mender's own limit (3 at the top interval). */
  retryPollCount?: number;
  /** ExponentialBackoffSmallestUnit (Mender: one minute); the simulator shortens it. */
  backoffUnitSeconds?: number;
  clock?: Clock;
  /** Used by waitUntilDecided to refresh the server's map; without one, server maps are only updated by set(). */
  fetchServerMap?: ServerMapFetcher;
}

export interface WaitOptions {
  /** The deployment being installed: its server map is refreshed at each control point and during a pause. */
  deploymentId?: string;
  signal?: AbortSignal;
  /** Called once, before the first wait, with the status to report (pause_before_installing, ...). */
  onPause?: (status: PauseStatus) => void | Promise<void>;
  fetchServerMap?: ServerMapFetcher;
}

export type ControlOutcome = { action: 'continue' } | { action: 'fail'; reason: string };

/** A map in the pool as shown to callers (GET on the local HTTP API). */
export interface PooledMapView extends ControlMap {
  expired: boolean;
  /** ISO time the map expires (or expired) unless refreshed. */
  expires_at: string;
}

/** What the pool persists across a reboot (Mender's datastore format: active and expired maps). */
export interface ControlMapSnapshot {
  active: ControlMap[];
  expired: ControlMap[];
}

/**
 * Mender's client.GetExponentialBackoffTime: the wait before fetch attempt `tried` + 1, starting at one unit and
 * doubling every three attempts up to the poll interval; undefined when it gives up (after `maxAttempts`, or three
 * tries at the top interval when maxAttempts is 0).
 */
export function fetchRetryDelaySeconds(
  tried: number,
  maxIntervalSeconds: number,
  maxAttempts: number,
  unitSeconds = 60,
): number | undefined {
  const perIntervalAttempts = 3;
  if (maxAttempts > 0 && tried >= maxAttempts) return undefined;
  let interval = unitSeconds;
  let nextInterval = interval;
  for (let c = 0; c <= tried; c += perIntervalAttempts) {
    interval = nextInterval;
    nextInterval *= 2;
    if (interval >= maxIntervalSeconds) {
      if (maxAttempts <= 0 && tried - c >= perIntervalAttempts) return undefined;
      return Math.max(maxIntervalSeconds, unitSeconds);
    }
  }
  return interval;
}

export class UpdateControl {
  readonly pollIntervalSeconds: number;
  readonly expirationSeconds: number;
  readonly bootExpirationSeconds: number;
  private readonly retryPollCount: number;
  private readonly backoffUnitSeconds: number;
  private readonly clock: Clock;
  private readonly fetchServerMap?: ServerMapFetcher;
  private pool: PooledControlMap[] = [];
  /** Expiry watches per pooled map: an expiry wakes a pause like a map update does (Mender's ExpirationChannel). */
  private expiryTimers = new Map<PooledControlMap, Timer>();
  /** Bumped on every change; a waiter that saw an older value wakes at once (Mender's buffered Updates channel). */
  private changes = 0;
  private listeners = new Set<() => void>();

  constructor(options: UpdateControlOptions = {}) {
    this.pollIntervalSeconds = options.pollIntervalSeconds ?? defaultPollIntervalSeconds;
    this.expirationSeconds = options.expirationSeconds || 2 * this.pollIntervalSeconds;
    this.bootExpirationSeconds = options.bootExpirationSeconds || defaultBootExpirationSeconds;
    this.retryPollCount = options.retryPollCount ?? 0;
    this.backoffUnitSeconds = options.backoffUnitSeconds ?? 60;
    this.clock = options.clock ?? systemClock;
    this.fetchServerMap = options.fetchServerMap;
    if (!(this.expirationSeconds > 0)) throw new Invalid('update control map expiration must be positive');
  }

  /**
   * Seconds within which an application must set its map again (SetUpdateControlMap's return value): half the
   * expiration, so a map not refreshed within twice this time expires.
   */
  get refreshIntervalSeconds(): number {
    return refreshSeconds(this.expirationSeconds);
  }

  /**
   * Sets a map. `local` (D-Bus, HTTP): replaces the map with the same id and priority, and a map whose states are
   * empty or all default deletes that id and priority. `server` (from /next or a refresh): replaces every map with
   * the deployment's id whatever its priority; `null`/`undefined` deletes them; a map with another id is refused.
   * Throws `Invalid` and leaves the pool untouched when the map breaks the rules. Returns the refresh interval.
   */
  set(input: unknown, source: MapSource, deploymentId?: string): number {
    const now = this.clock.now();
    if (source === 'local') {
      // Go decodes a JSON null into an empty map, which deletes nothing and is not an error.
      if (input === null) return this.refreshIntervalSeconds;
      this.replacePool(setLocalMap(this.pool, parseControlMap(input), now, this.expirationSeconds));
    } else {
      const map = input === null || input === undefined ? undefined : parseControlMap(input);
      const id = deploymentId ?? map?.id;
      if (id === undefined) throw new Invalid('a server map needs a deployment id');
      this.replacePool(setServerMap(this.pool, id, map, now, this.expirationSeconds));
    }
    return this.refreshIntervalSeconds;
  }

  /** SetUpdateControlMap's operation: the map as a JSON string, as the D-Bus method and HTTP API receive it. */
  setLocalJson(json: string): number {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch (error) {
      throw new Invalid(`update control map is not valid JSON: ${(error as Error).message}`);
    }
    return this.set(parsed, 'local');
  }

  /** Deletes every map with this id, whatever its priority (the client does this when a deployment ends). */
  clear(id: string): void {
    this.replacePool(this.pool.filter((p) => p.map.id !== id));
  }

  /** Drops expired maps (the client does this when it goes idle). */
  clearExpired(): void {
    this.replacePool(clearExpired(this.pool, this.clock.now()));
  }

  /** Whether any map, active or expired, has this id: then a control point refreshes it from the server first. */
  hasMap(id: string): boolean {
    return this.pool.some((p) => p.map.id === id);
  }

  maps(): PooledMapView[] {
    const now = this.clock.now();
    return this.pool.map((p) => ({
      ...structuredClone(p.map),
      expired: isExpired(p, now),
      expires_at: new Date(p.stampedAt + p.expirationSeconds * 1000).toISOString(),
    }));
  }

  /**
   * One query of the pool at a state (QueryAndUpdate): the highest priority with a decisive merged action wins
   * (fail > pause > force_continue → continue; plain continue defers to lower priorities); expired maps give their
   * on_map_expire; every map consulted moves on to its on_action_executed. No decisive action → continue.
   */
  decide(state: ControlMapState): ControlAction {
    const decision = queryControlMaps(this.pool, state, this.clock.now());
    // The query rewrites actions in place in Mender; keep our map objects (and their expiry watches) stable.
    this.pool.forEach((pooled, i) => {
      pooled.map = decision.pool[i].map;
    });
    return decision.action;
  }

  /** The status a device reports while paused before `state`. */
  pauseStatus(state: ControlMapState): PauseStatus {
    return pauseStatusFor(state);
  }

  /**
   * Runs a control point to its end, as the client's state machine does: refresh the deployment's server map if the
   * pool has one (404 → fail: aborted), query; on pause report `pause_before_*` once and wait for a map update, a map
   * expiry or the next server refresh (the earliest server map half-life, capped at the poll interval), then query
   * again. Resolves with continue or fail; rejects with the signal's reason when aborted.
   */
  async waitUntilDecided(state: ControlMapState, options: WaitOptions = {}): Promise<ControlOutcome> {
    const { deploymentId, signal, onPause } = options;
    const fetcher = options.fetchServerMap ?? this.fetchServerMap;
    let fetchFirst = true;
    let fetchAttempts = 0;
    let pauseReported = false;
    // Before a reboot the client queries twice when the first answer is pause (updateRebootPauseRequestedState), so
    // on_action_executed applies twice there.
    let rebootRequery = state === 'ArtifactReboot_Enter';
    for (;;) {
      signal?.throwIfAborted();
      if (fetchFirst && deploymentId !== undefined && fetcher && this.hasMap(deploymentId)) {
        try {
          const fetched = await fetcher(deploymentId, signal);
          // The client treats a 200 without a map as a failed fetch (client_update.go), not as "no map".
          if (fetched === null || fetched === undefined) throw new Error('No control map returned');
          this.set(fetched, 'server', deploymentId);
          fetchAttempts = 0;
        } catch (error) {
          signal?.throwIfAborted();
          if (error instanceof DeploymentGone) return { action: 'fail', reason: error.message };
          const delay = fetchRetryDelaySeconds(
            fetchAttempts++,
            this.pollIntervalSeconds,
            this.retryPollCount,
            this.backoffUnitSeconds,
          );
          if (delay === undefined) {
            return { action: 'fail', reason: `update control map fetch failed: ${(error as Error).message}` };
          }
          await sleep(this.clock, delay * 1000, signal);
          continue;
        }
      }
      const seen = this.changes;
      const action = this.decide(state);
      if (action === 'continue') return { action };
      if (action === 'fail') return { action, reason: 'Forced a failed update' };
      if (rebootRequery) {
        rebootRequery = false;
        fetchFirst = false;
        continue;
      }
      if (!pauseReported) {
        pauseReported = true;
        await onPause?.(pauseStatusFor(state));
      }
      fetchFirst = (await this.pauseWait(deploymentId, seen, signal)) === 'refresh';
    }
  }

  /** Maps to persist across a reboot (Mender saves them on every change). */
  snapshot(): ControlMapSnapshot {
    const now = this.clock.now();
    const active = this.pool.filter((p) => !isExpired(p, now)).map((p) => structuredClone(p.map));
    const expired = this.pool.filter((p) => isExpired(p, now)).map((p) => structuredClone(p.map));
    return { active, expired };
  }

  /**
   * Loads maps after a reboot: every map gets the boot expiration (applications may not be up yet to refresh it);
   * maps that had expired stay expired.
   */
  restore(snapshot: ControlMapSnapshot): void {
    const now = this.clock.now();
    const seconds = this.bootExpirationSeconds;
    const pooled = (map: ControlMap, stampedAt: number) => ({
      map: structuredClone(map),
      stampedAt,
      expirationSeconds: seconds,
    });
    this.replacePool([
      ...snapshot.active.map((map) => pooled(map, now)),
      ...snapshot.expired.map((map) => pooled(map, now - seconds * 1000)),
    ]);
  }

  /** Calls `listener` after every change to the pool and every expiry; returns the unsubscribe function. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Cancels expiry watches (the pool itself stays usable). */
  close(): void {
    for (const timer of this.expiryTimers.values()) timer.cancel();
    this.expiryTimers.clear();
  }

  private replacePool(next: PooledControlMap[]): void {
    const now = this.clock.now();
    for (const [pooled, timer] of this.expiryTimers) {
      if (!next.includes(pooled)) {
        timer.cancel();
        this.expiryTimers.delete(pooled);
      }
    }
    for (const pooled of next) {
      if (this.expiryTimers.has(pooled) || isExpired(pooled, now)) continue;
      const at = pooled.stampedAt + pooled.expirationSeconds * 1000;
      const timer = this.clock.setTimer(
        at - now,
        () => {
          this.expiryTimers.delete(pooled);
          this.changed();
        },
        { unref: true },
      );
      this.expiryTimers.set(pooled, timer);
    }
    this.pool = next;
    this.changed();
  }

  private changed(): void {
    this.changes++;
    for (const listener of [...this.listeners]) listener();
  }

  /**
   * A pause's wait (controlMapPauseState): with an active server map for the deployment, until the earliest
   * half-life of those (at most the poll interval), then refresh from the server; otherwise until the earliest
   * half-life of any active map, then query again; with no active map, query again at once. A pool change (set,
   * clear, expiry) since `seen` ends the wait early with a query. Mender waits 30 ns when a half-life is already
   * past (a Go Duration written as 30), which spins; here that wait lasts until the next expiry or change instead.
   */
  private async pauseWait(
    deploymentId: string | undefined,
    seen: number,
    signal?: AbortSignal,
  ): Promise<'refresh' | 'query'> {
    const now = this.clock.now();
    const active = this.pool.filter((p) => !isExpired(p, now));
    const halfway = (p: PooledControlMap) => p.stampedAt + (p.expirationSeconds * 1000) / 2;
    const expiry = (p: PooledControlMap) => p.stampedAt + p.expirationSeconds * 1000;
    const server = active.filter((p) => p.map.id === deploymentId);
    let delayMs: number;
    let onTimer: 'refresh' | 'query';
    if (server.length > 0) {
      onTimer = 'refresh';
      delayMs = Math.max(0, Math.min(Math.min(...server.map(halfway)) - now, this.pollIntervalSeconds * 1000));
    } else if (active.length > 0) {
      onTimer = 'query';
      const next = Math.min(...active.map(halfway));
      delayMs = next > now ? next - now : Math.min(...active.map(expiry)) - now;
    } else {
      return 'query';
    }
    if (this.changes !== seen) return 'query';
    return new Promise((resolve, reject) => {
      const finish = (outcome: 'refresh' | 'query' | Error) => {
        timer.cancel();
        unsubscribe();
        signal?.removeEventListener('abort', onAbort);
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const onAbort = () => finish(signal?.reason ?? new Error('aborted'));
      const timer = this.clock.setTimer(delayMs, () => finish(onTimer));
      const unsubscribe = this.onChange(() => finish('query'));
      if (signal?.aborted) onAbort();
      else signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
