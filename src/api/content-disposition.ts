// The Content-Disposition header of a download, for any file name: Node refuses header values with characters
// above U+00FF (an artifact named in Cyrillic could never be downloaded: a 500). RFC 6266 §4.3: a plain `filename`
// fallback in printable ASCII, and the exact name as RFC 5987 `filename*` (UTF-8, percent-encoded) when it differs.
// (Hand-written: a few lines, and the `content-disposition` package is not among our dependencies.)

/** `attachment; filename="…"` plus `filename*=UTF-8''…` when the name is not plain printable ASCII. */
export function attachment(filename: string): string {
  const fallback = filename.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const header = `attachment; filename="${fallback}"`;
  if (fallback === filename) return header;
  return `${header}; filename*=UTF-8''${encodeRfc5987(filename)}`;
}

/** RFC 5987 attr-char: encodeURIComponent leaves `'()*` and `!` as they are; only `!` is an attr-char among them. */
function encodeRfc5987(value: string): string {
  return encodeURIComponent(value).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
