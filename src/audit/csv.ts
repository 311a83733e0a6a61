// The audit export's CSV: one column per flattened field of an entry (Mender's closed export names its columns by
// their JSON path, e.g. `actor.id`, as its `ignore=actor.id` example shows). RFC 4180 quoting; a cell that a
// spreadsheet would run as a formula (=, +, -, @ first) gets a leading ' (OWASP's CSV injection advice): the
// exported text comes from device and user input.
import { Invalid } from '../errors.js';
import type { AuditLogTable } from './tables.js';

type Cell = (row: AuditLogTable, object: Record<string, Record<string, string>>) => string | null | undefined;

const COLUMNS: [path: string[], cell: Cell][] = [
  [['time'], (r) => r.time],
  [['action'], (r) => r.action],
  [['actor', 'id'], (r) => r.actor_id],
  [['actor', 'type'], (r) => r.actor_type],
  [['actor', 'email'], (r) => r.actor_email],
  [['object', 'id'], (r) => r.object_id],
  [['object', 'type'], (r) => r.object_type],
  [['object', 'user', 'email'], (_, o) => o.user?.email],
  [['object', 'deployment', 'name'], (_, o) => o.deployment?.name],
  [['object', 'deployment', 'artifact_name'], (_, o) => o.deployment?.artifact_name],
  [['object', 'artifact', 'name'], (_, o) => o.artifact?.name],
  [['object', 'device', 'id'], (_, o) => o.device?.id],
  [['object', 'device', 'identity_data'], (_, o) => o.device?.identity_data],
  [['change'], (r) => r.change],
  [['meta'], (r) => r.meta_json],
];

export const CSV_COLUMNS = COLUMNS.map(([path]) => path.join('.'));

function cellText(value: string | null | undefined): string {
  if (value === null || value === undefined) return '';
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

export interface CsvLayout {
  header: string;
  line(row: AuditLogTable): string;
}

/** The columns left after `ignore` (paths with dots), headed with `separator` between a path's parts. */
export function csvLayout(separator = '.', ignore: string[] = []): CsvLayout {
  if (separator.length > 16 || /[",\r\n]/.test(separator)) {
    throw new Invalid('format_separator: at most 16 characters, no quote, comma or line break');
  }
  for (const name of ignore) {
    if (!CSV_COLUMNS.includes(name)) throw new Invalid(`ignore: unknown field "${name}" (one of ${CSV_COLUMNS})`);
  }
  const kept = COLUMNS.filter(([path]) => !ignore.includes(path.join('.')));
  return {
    header: `${kept.map(([path]) => cellText(path.join(separator))).join(',')}\r\n`,
    line(row) {
      const object = row.object_json ? JSON.parse(row.object_json) : {};
      return `${kept.map(([, cell]) => cellText(cell(row, object))).join(',')}\r\n`;
    },
  };
}
