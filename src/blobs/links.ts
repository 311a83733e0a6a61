// Signed, expiring download links: an HMAC over the path and the expiry time, so that a device can fetch a blob
// without any other credential (mender-client sends no Authorization header with its download).
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface SignedQuery {
  expires: string;
  signature: string;
}

export class LinkSigner {
  constructor(private readonly secret: Buffer) {}

  private mac(path: string, expires: string): string {
    return createHmac('sha256', this.secret).update(`${path}\n${expires}`).digest('base64url');
  }

  /** The query (`expires`, `signature`) that makes `path` fetchable until `expiresAt`. */
  sign(path: string, expiresAt: Date): SignedQuery {
    const expires = String(Math.floor(expiresAt.getTime() / 1000));
    return { expires, signature: this.mac(path, expires) };
  }

  /** True when the signature is ours for this path and the link has not expired at `at`. */
  verify(path: string, query: Partial<SignedQuery>, at = new Date()): boolean {
    const { expires, signature } = query;
    if (!expires || !signature || !/^\d{1,12}$/.test(expires)) return false;
    const expected = Buffer.from(this.mac(path, expires));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return false;
    return Number(expires) * 1000 > at.getTime();
  }

  url(base: string, path: string, expiresAt: Date): string {
    const q = this.sign(path, expiresAt);
    return `${base}${path}?expires=${q.expires}&signature=${q.signature}`;
  }
}
