// How long one device's log in a deployment may grow: every protocol appends through attempts.ts, and a device
// sending feedback details without end (a Kanto device grew a log past 100 MB over MQTT) must not fill the disk.
import type { LogLine } from '../store.js';

/** Lines kept per device in a deployment; the next line becomes one "log truncated" line, later ones are dropped. */
export const MAX_LOG_LINES = 10_000;

export const TRUNCATED_MESSAGE = `log truncated: a device's log in a deployment keeps at most ${MAX_LOG_LINES} lines`;

/** The part of `lines` to store after `stored` lines already stored (the truncation line counts as one). */
export function linesToKeep(stored: number, lines: readonly LogLine[]): readonly LogLine[] {
  const room = MAX_LOG_LINES - stored;
  if (lines.length <= room) return lines;
  if (room < 0) return [];
  const first = lines[room];
  return [...lines.slice(0, room), { timestamp: first.timestamp, level: 'error', message: TRUNCATED_MESSAGE }];
}
