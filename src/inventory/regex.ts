// The `$regex` engine of inventory searches: RE2 semantics (re2-wasm, Google's RE2 built to WebAssembly, no native
// build), which matches in time linear in the value whatever the pattern. A JavaScript RegExp backtracks: one
// pattern like `^(a|a)*$` held the event loop, and every tenant with it, for minutes (issue 18, point 1).
import { RE2 } from 're2-wasm';

/** Longest pattern compiled; longer ones are refused with a 400 before any work is done. */
export const MAX_PATTERN_LENGTH = 1024;

/** Compiled patterns kept per process; RE2 compiles to a program in WebAssembly memory, freed on eviction. */
const CACHE_SIZE = 256;

interface Compiled {
  re: RE2 | null;
}

const cache = new Map<string, Compiled>();

/**
 * The pattern compiled by RE2, or null when RE2 refuses it: a syntax error, or what only a backtracking engine
 * can run (backreferences, lookaround) or what would compile to a huge program (nested counted repetitions). A
 * leading `(?i)` makes it case-insensitive, as PostgreSQL reads it too.
 */
export function compilePattern(pattern: string): RE2 | null {
  const known = cache.get(pattern);
  if (known) {
    // Refresh its place: the map's order is the eviction order.
    cache.delete(pattern);
    cache.set(pattern, known);
    return known.re;
  }
  let re: RE2 | null = null;
  try {
    re = new RE2(pattern, 'u');
  } catch {
    re = null;
  }
  if (cache.size >= CACHE_SIZE) {
    const [oldest, entry] = cache.entries().next().value as [string, Compiled];
    cache.delete(oldest);
    release(entry.re);
  }
  cache.set(pattern, { re });
  return re;
}

/**
 * Whether `value` matches `pattern` anywhere; a pattern RE2 refuses matches nothing. A pattern without repetition
 * or alternation cannot make a backtracking engine take more than (pattern × value) steps, so JavaScript's own
 * RegExp runs it: about 100 times faster per value than a call into WebAssembly (0.05 against 7.6 µs), and the web
 * UI's searches (escaped literals) are all of that kind. Everything else goes to RE2.
 */
export function regexMatches(pattern: string, value: string): boolean {
  const re = compilePattern(pattern);
  if (re === null) return false;
  return (plainMatcher(pattern) ?? re).test(value);
}

const plainMatchers = new Map<string, RegExp | null>();

/** A JavaScript RegExp for a pattern with no quantifier, alternation or backreference; else null. */
function plainMatcher(pattern: string): RegExp | null {
  let matcher = plainMatchers.get(pattern);
  if (matcher !== undefined) return matcher;
  const caseInsensitive = pattern.startsWith('(?i)');
  const body = caseInsensitive ? pattern.slice(4) : pattern;
  // Escaped characters are literals (or classes like \d), except a backreference (\1 ...).
  const unescaped = body.replace(/\\[^0-9]/g, '');
  matcher = null;
  if (!/[*+?{}|\\]/.test(unescaped)) {
    try {
      matcher = new RegExp(body, caseInsensitive ? 'iu' : 'u');
    } catch {
      matcher = null;
    }
  }
  if (plainMatchers.size >= CACHE_SIZE) plainMatchers.clear();
  plainMatchers.set(pattern, matcher);
  return matcher;
}

/** re2-wasm keeps each compiled program in its WebAssembly heap until the embind wrapper is deleted. */
function release(re: RE2 | null): void {
  const wrapper = (re as unknown as { wrapper?: { delete?: () => void } } | null)?.wrapper;
  wrapper?.delete?.();
}
