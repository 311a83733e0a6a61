// How devices should handle a deployment (hawkBit's action types and maintenance windows, pure rules): forced
// (default), soft (the device may wait for its user), time-forced (soft until a time, then forced), download-only
// (downloaded and reported, never installed), and a maintenance window outside which nothing is installed. The
// deployment owns them; hawkBit DDI shows them as deploymentBase's download/update/maintenanceWindow. Mender has no
// such fields and ignores them (its equivalent for holding an install is the update control map); Kanto too.
// Maintenance schedules are Quartz cron expressions as hawkBit takes them (seconds first, `?`, Sunday = 1), read
// with croner (a small, dependency-free cron library with Quartz weekdays and fixed UTC offsets) rather than by hand.
import { Cron } from 'croner';
import { Invalid } from '../../errors.js';

export const ACTION_TYPES = ['forced', 'soft', 'timeforced', 'downloadonly'] as const;
export type ActionType = (typeof ACTION_TYPES)[number];

export interface MaintenanceWindow {
  /** Quartz cron: when a window opens. */
  schedule: string;
  /** How long it stays open, `HH:mm:ss`. */
  duration: string;
  /** The schedule's UTC offset, `+HH:mm` / `-HH:mm` (hawkBit's form). */
  timezone: string;
}

export interface DeploymentHandling {
  type: ActionType;
  /** timeforced: when it becomes forced (RFC 3339). */
  forceTime?: string;
  maintenanceWindow?: MaintenanceWindow;
}

/** What a device is asked to do now: hawkBit's handling of the download and update parts. */
export type Handling = 'forced' | 'attempt' | 'skip';
export interface HandlingNow {
  download: Handling;
  update: Handling;
  /** Only when the deployment has a maintenance window. */
  maintenanceWindow?: 'available' | 'unavailable';
}

export const FORCED: DeploymentHandling = { type: 'forced' };

const fail = (message: string): never => {
  throw new Invalid(`Validating request body: ${message}`);
};

/**
 * The creation body's `action_type`, `force_time` and `maintenance_window` (Flotilla's fields; hawkBit's management
 * API calls them type, forcetime, maintenanceWindow), checked as hawkBit does: a window needs a schedule that opens
 * again after now; a time-forced deployment needs its time.
 */
export function handlingOf(
  body: { action_type?: unknown; force_time?: unknown; maintenance_window?: unknown },
  now: Date,
): DeploymentHandling {
  const type = body.action_type ?? 'forced';
  if (typeof type !== 'string' || !(ACTION_TYPES as readonly string[]).includes(type))
    fail(`action_type: must be one of ${ACTION_TYPES.join(', ')}.`);
  const handling: DeploymentHandling = { type: type as ActionType };
  if (type === 'timeforced') {
    const at = typeof body.force_time === 'string' ? Date.parse(body.force_time) : NaN;
    if (Number.isNaN(at)) fail('force_time: a time-forced deployment needs an RFC 3339 time.');
    handling.forceTime = new Date(at).toISOString();
  } else if (body.force_time !== undefined && body.force_time !== null) {
    fail('force_time: only a time-forced deployment takes it.');
  }
  const window = body.maintenance_window;
  if (window !== undefined && window !== null) {
    if (typeof window !== 'object' || Array.isArray(window)) fail('maintenance_window: must be an object.');
    const { schedule, duration, timezone } = window as Record<string, unknown>;
    if (typeof schedule !== 'string' || typeof duration !== 'string' || typeof timezone !== 'string')
      fail('maintenance_window: schedule, duration and timezone are required strings.');
    // hawkBit's own bound on a schedule (Action.MAINTENANCE_WINDOW_SCHEDULE_LENGTH).
    if ((schedule as string).length > 128) fail('maintenance_window: schedule must be at most 128 characters.');
    handling.maintenanceWindow = { schedule, duration, timezone } as MaintenanceWindow;
    durationMs(handling.maintenanceWindow.duration);
    if (!cronOf(handling.maintenanceWindow).nextRun(now))
      fail('maintenance_window: the schedule never opens a window after now.');
  }
  return handling;
}

/** The download and update handling at `now` (hawkBit's DdiRootController rules, written anew). */
export function handlingAt(handling: DeploymentHandling, now: Date): HandlingNow {
  const forced =
    handling.type === 'forced' ||
    handling.type === 'downloadonly' ||
    (handling.type === 'timeforced' && handling.forceTime !== undefined && Date.parse(handling.forceTime) <= +now);
  const download: Handling = forced ? 'forced' : 'attempt';
  if (handling.type === 'downloadonly') return { download, update: 'skip' };
  if (!handling.maintenanceWindow) return { download, update: download };
  const open = windowOpen(handling.maintenanceWindow, now);
  return { download, update: open ? download : 'skip', maintenanceWindow: open ? 'available' : 'unavailable' };
}

/** True while a window is open: one opened within the last `duration` (a window that opens now counts). */
export function windowOpen(window: MaintenanceWindow, now: Date): boolean {
  const from = new Date(+now - durationMs(window.duration) - 1000);
  const opened = cronOf(window).nextRun(from);
  return opened !== null && +opened <= +now;
}

function durationMs(duration: string): number {
  const match = /^(\d{1,2}):([0-5]\d):([0-5]\d)$/.exec(duration);
  if (!match) return fail('maintenance_window: duration must be HH:mm:ss.');
  const ms = ((Number(match[1]) * 60 + Number(match[2])) * 60 + Number(match[3])) * 1000;
  if (ms === 0) fail('maintenance_window: duration must be longer than zero.');
  return ms;
}

function cronOf(window: MaintenanceWindow): Cron {
  const offset = /^(?:Z|([+-])(\d{2}):(\d{2}))$/.exec(window.timezone);
  if (!offset) return fail('maintenance_window: timezone must be an offset such as +01:00.');
  const minutes = offset[1] ? (offset[1] === '-' ? -1 : 1) * (Number(offset[2]) * 60 + Number(offset[3])) : 0;
  // Quartz has a seconds field: five-field (Unix) expressions are refused rather than read differently.
  const fields = window.schedule.trim().split(/\s+/).length;
  if (fields < 6 || fields > 7) fail('maintenance_window: schedule must be a Quartz cron expression (6 or 7 fields).');
  try {
    return new Cron(window.schedule, { paused: true, utcOffset: minutes, alternativeWeekdays: true });
  } catch (error) {
    return fail(`maintenance_window: schedule: ${(error as Error).message}`);
  }
}

/** Stored form: null for the default (forced, no window), so old rows and Mender-only deployments need nothing. */
export function handlingJson(handling: DeploymentHandling): string | null {
  return handling.type === 'forced' && !handling.maintenanceWindow ? null : JSON.stringify(handling);
}

export function storedHandling(json: string | null): DeploymentHandling {
  return json ? (JSON.parse(json) as DeploymentHandling) : FORCED;
}
