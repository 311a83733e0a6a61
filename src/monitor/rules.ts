// What a device may post to the monitor (seed 001 "Device monitor", @northern.tech/types Alert and
// MonitorConfiguration): alerts with a name, a level (OK or CRITICAL), an RFC 3339 timestamp and a subject
// (name, type, status, optional details with log lines), and its list of checks. Any fault is a 400 naming it, and
// nothing of the request is stored. Limits Mender does not publish are Flotilla's, to keep one request bounded.
import { Invalid } from '../errors.js';
import type { AlertLevel } from './tables.js';

export const MAX_ALERTS = 100;
export const MAX_CHECKS = 1000;
export const MAX_TEXT = 4096;
export const MAX_LINES = 100;

/** Bounds of `issued_before` / `issued_after` (exclusive), normalised by `timeOf`. */
export interface TimeRange {
  issuedBefore?: string;
  issuedAfter?: string;
}

export interface LineDescriptor {
  line_number: number;
  data: string;
}

export interface AlertDetails {
  description?: string;
  lines_before?: LineDescriptor[];
  line_matching?: LineDescriptor;
  lines_after?: LineDescriptor[];
}

/** Mender's Alert, as devices post it and the management API answers it. */
export interface Alert {
  name: string;
  level: AlertLevel;
  subject: { name: string; type: string; status: string; details?: AlertDetails };
  timestamp: string;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function text(parent: Json, key: string, at: string, required = true): string | undefined {
  const value = parent[key];
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'string') throw new Invalid(`${at}${key}: must be a string`);
  if (required && value === '') throw new Invalid(`${at}${key}: cannot be blank`);
  if ([...value].length > MAX_TEXT) throw new Invalid(`${at}${key}: the length must be no more than ${MAX_TEXT}`);
  return value;
}

/** An RFC 3339 time, normalised to UTC with milliseconds (how Flotilla writes times). */
export function timeOf(value: unknown, at: string): string {
  if (typeof value !== 'string' || !RFC3339.test(value) || Number.isNaN(Date.parse(value))) {
    throw new Invalid(`${at}: must be an RFC 3339 date-time`);
  }
  return new Date(value).toISOString();
}

function line(value: unknown, at: string): LineDescriptor {
  if (!isObject(value)) throw new Invalid(`${at}: must be an object`);
  const n = value.line_number;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) throw new Invalid(`${at}.line_number: must be an integer`);
  const data = text(value, 'data', `${at}.`, false);
  if (data === undefined) throw new Invalid(`${at}.data: must be a string`);
  return { line_number: n, data };
}

function lines(value: unknown, at: string): LineDescriptor[] {
  if (!Array.isArray(value)) throw new Invalid(`${at}: must be a list of lines`);
  if (value.length > MAX_LINES) throw new Invalid(`${at}: at most ${MAX_LINES} lines`);
  return value.map((l, i) => line(l, `${at}[${i}]`));
}

function details(value: unknown, at: string): AlertDetails {
  if (!isObject(value)) throw new Invalid(`${at}: must be an object`);
  const out: AlertDetails = {};
  const description = text(value, 'description', `${at}.`, false);
  if (description !== undefined) out.description = description;
  if (value.lines_before !== undefined) out.lines_before = lines(value.lines_before, `${at}.lines_before`);
  if (value.line_matching !== undefined) out.line_matching = line(value.line_matching, `${at}.line_matching`);
  if (value.lines_after !== undefined) out.lines_after = lines(value.lines_after, `${at}.lines_after`);
  return out;
}

/** The alerts of a POST /alert body: a non-empty list. */
export function alertsOf(body: unknown): Alert[] {
  if (!Array.isArray(body)) throw new Invalid('failed to decode request body: expected a list of alerts');
  if (body.length === 0) throw new Invalid('failed to decode request body: the list of alerts is empty');
  if (body.length > MAX_ALERTS) throw new Invalid(`too many alerts in one request, maximum is ${MAX_ALERTS}`);
  return body.map((item, i): Alert => {
    const at = `[${i}].`;
    if (!isObject(item)) throw new Invalid(`${at.slice(0, -1)}: must be an object`);
    const name = text(item, 'name', at) as string;
    const level = item.level;
    if (level !== 'OK' && level !== 'CRITICAL') throw new Invalid(`${at}level: must be one of OK, CRITICAL`);
    const timestamp = timeOf(item.timestamp, `${at}timestamp`);
    const s = item.subject;
    if (!isObject(s)) throw new Invalid(`${at}subject: must be an object`);
    const subject: Alert['subject'] = {
      name: text(s, 'name', `${at}subject.`) as string,
      type: text(s, 'type', `${at}subject.`) as string,
      status: text(s, 'status', `${at}subject.`) as string,
    };
    if (s.details !== undefined && s.details !== null) subject.details = details(s.details, `${at}subject.details`);
    return { name, level, subject, timestamp };
  });
}

/**
 * The checks of a POST /config body: `[{name, status, type}]`, each with the subsystem's own settings (`log`,
 * `service`, `dbus` objects) kept as sent.
 */
export function checksOf(body: unknown): Json[] {
  if (!Array.isArray(body)) throw new Invalid('failed to decode request body: expected a list of checks');
  if (body.length > MAX_CHECKS) throw new Invalid(`too many checks, maximum is ${MAX_CHECKS}`);
  return body.map((item, i) => {
    const at = `[${i}].`;
    if (!isObject(item)) throw new Invalid(`[${i}]: must be an object`);
    const check: Json = {
      name: text(item, 'name', at),
      status: text(item, 'status', at),
      type: text(item, 'type', at),
    };
    for (const key of ['log', 'service', 'dbus']) {
      if (item[key] === undefined) continue;
      if (!isObject(item[key])) throw new Invalid(`${at}${key}: must be an object`);
      check[key] = item[key];
    }
    return check;
  });
}
