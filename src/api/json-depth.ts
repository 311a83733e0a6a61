// How deeply a JSON body may nest, checked in one place (the JSON body parser, app.ts) before it is parsed: V8
// parses any depth, but JSON.stringify of a value nested ~10,000 deep overflows the stack, so a deep body stored
// as given (user settings) answered 500. No wire shape Flotilla speaks comes near the limit.
import { Invalid } from '../errors.js';

export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/** Throws Invalid when `body` (JSON text) nests objects and arrays deeper than MAX_JSON_DEPTH. */
export function checkJsonDepth(body: Buffer): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const byte = body[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) inString = true;
    else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      if (++depth > MAX_JSON_DEPTH) {
        throw new Invalid(`request body: JSON nests deeper than ${MAX_JSON_DEPTH} levels`);
      }
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) depth--;
  }
}
