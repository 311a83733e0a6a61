// The rule for text that reaches the database, in one place: no NUL characters (PostgreSQL's text type cannot
// hold them and failed the request with a 500) and no lone UTF-16 surrogates (SQLite stored them as invalid
// UTF-8). Every JSON body, query string and path parameter passes here before a route sees it (app.ts), and the
// domain checks what arrives by other ways (MQTT) with the same function.
import { Invalid } from './errors.js';

/** In a `u` pattern a paired surrogate is one code point (not Cs): only lone halves match. */
const LONE_SURROGATE = /\p{Cs}/u;

/** Throws Invalid naming `where` when `text` is not storable. */
export function checkText(text: string, where: string): void {
  if (text.includes('\0')) throw new Invalid(`${where}: text must not contain NUL characters (\\u0000)`);
  if (LONE_SURROGATE.test(text)) throw new Invalid(`${where}: text must be valid Unicode (a lone surrogate was sent)`);
}

/** What JSON.parse makes: streams, buffers and other objects a content parser hands on are not text to check. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * Checks every string (object keys included) in a parsed JSON value. Iterative, so that a deeply nested body
 * cannot overflow the stack here.
 */
export function checkTexts(value: unknown, where: string): void {
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next === 'string') checkText(next, where);
    else if (Array.isArray(next)) for (const item of next) pending.push(item);
    else if (isPlainObject(next)) {
      for (const [key, inner] of Object.entries(next)) {
        checkText(key, where);
        pending.push(inner);
      }
    }
  }
}

/**
 * Checks a flat record of request fields (a query string's or a path's parameters): its keys, and its values as
 * JSON values. Such records are not plain objects (the query parser gives them a prototype of its own).
 */
export function checkFields(fields: unknown, where: string): void {
  if (fields === null || typeof fields !== 'object') return;
  // for…in with an own-property check is Object.entries without the arrays it builds (this runs on every request).
  for (const key in fields) {
    if (!Object.hasOwn(fields, key)) continue;
    checkText(key, where);
    checkTexts((fields as Record<string, unknown>)[key], where);
  }
}
