// Test-only fault injection for the crash harness (test/reliability/crash.test.ts): `FLOTILLA_CRASH_AT=<point>`
// makes the process kill itself with SIGKILL when it reaches that step, as a power cut or an OOM kill would. The
// points are named here, the config refuses any other name, and nothing happens when it is unset.

/** The steps where a crash once lost or orphaned data (issue 18 point 7), and device events that must be atomic. */
export const CRASH_POINTS = [
  /** An artifact's blob is committed, its row not yet inserted (upload, generate, direct upload completion). */
  'artifact.blob-committed',
  /** An artifact's row is committed; what the request made on the way (work folder, upload's bytes) not yet gone. */
  'artifact.recorded',
  /** `artifacts/generate` wrote its work folder and is building the artifact. */
  'generate.working',
  /** An artifact's row is deleted, its blob not yet. */
  'artifact.deleted',
  /** A direct upload's bytes are committed, its row does not point at them yet. */
  'directupload.received',
  /** Inside the transaction of a Mender status report, before it commits. */
  'mender.status-report',
  /** Inside the transaction of a Kanto success feedback (attempt, activity, inventory), before it commits. */
  'kanto.feedback',
] as const;

export type CrashPoint = (typeof CRASH_POINTS)[number];

export function crashPointOf(name: string, value: string): CrashPoint {
  if (!(CRASH_POINTS as readonly string[]).includes(value))
    throw new Error(`${name} must be one of ${CRASH_POINTS.join(', ')}; got ${JSON.stringify(value)}`);
  return value as CrashPoint;
}

/** Dies here, at once and without clean-up, when the config names this point. */
export function crashAt(config: { crashAt?: CrashPoint }, point: CrashPoint): void {
  if (config.crashAt === point) process.kill(process.pid, 'SIGKILL');
}
