// The one reading of a `Range` request header (RFC 9110 §14.1.2) against a blob of known size: which bytes a
// download sends. A single range is served; what a header that is not one means is the protocol's own answer, so it
// is returned as `malformed`: Mender's signed links ignore it as RFC 9110 says, hawkBit's DDI refuses it with 416.
import type { ByteRange } from '../blobs/store.js';

export type RangeRequest = ByteRange | 'whole' | 'unsatisfiable' | 'malformed';

const SINGLE = /^bytes=(\d*)-(\d*)$/;

/** What `header` asks of a blob of `size` bytes: no header is `whole`; an end past the blob is cut to its end. */
export function readRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined || header === '') return 'whole';
  const match = SINGLE.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return 'malformed';
  if (match[1] === '') {
    // A suffix: the last N bytes (all of a shorter blob); none of an empty blob or of `-0`.
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  if (!Number.isSafeInteger(start) || start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}
