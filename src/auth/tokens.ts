// Signs and verifies the JWTs of users (login and personal access tokens) and devices. One RS256 key,
// kept in the database so that every server process signs and verifies with the same key. Verified tokens are
// remembered until their `exp`, so a device's every poll does not pay an RSA verification (55-130 µs with jose).
// The revocation feed that keeps every process's token caches honest hangs off the issuer (see revocations.ts).
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomUUID,
} from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { Unauthorized } from '../errors.js';
import type { Store } from '../store/db.js';
import { now } from '../store/db.js';
import { RevocationFeed } from './revocations.js';

const ISSUER = 'Flotilla';
const KEY_ID = 'default';

export type TokenKind = 'user' | 'device';

export interface TokenClaims {
  kind: TokenKind;
  /** Token id (`jti`): the row of user_tokens or device_tokens that keeps the token alive. */
  id: string;
  /** User id or device id. */
  subject: string;
  tenantId: string;
  expiresAt: Date;
}

/** How many verified tokens a process remembers; past it, the oldest is forgotten (and verified again if used). */
const VERIFIED_MAX = 100_000;

export class TokenIssuer {
  /** Token string → its claims, for tokens that passed `verify`; an entry is used only before its `exp`. */
  private readonly verified = new Map<string, TokenClaims>();

  private constructor(
    private readonly privateKey: KeyObject,
    private readonly publicKey: KeyObject,
    /** Where token revocations are published and heard; services with token caches subscribe to it. */
    readonly revocations: RevocationFeed,
  ) {}

  /** Loads the signing key from the store, creating it on first start (race-safe across processes). */
  static async load(store: Store, revocations = new RevocationFeed(store)): Promise<TokenIssuer> {
    let row = await store.db.selectFrom('signing_keys').selectAll().where('id', '=', KEY_ID).executeTakeFirst();
    if (!row) {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
      await store.db
        .insertInto('signing_keys')
        .values({ id: KEY_ID, private_pem: pem, created_ts: now() })
        .onConflict((oc) => oc.doNothing())
        .execute();
      row = await store.db.selectFrom('signing_keys').selectAll().where('id', '=', KEY_ID).executeTakeFirstOrThrow();
    }
    const privateKey = createPrivateKey(row.private_pem);
    return new TokenIssuer(privateKey, createPublicKey(privateKey), revocations);
  }

  /** A secret for another purpose (e.g. signing download links), derived from the shared key. */
  deriveSecret(purpose: string): Buffer {
    const material = this.privateKey.export({ type: 'pkcs8', format: 'der' });
    return Buffer.from(hkdfSync('sha256', material, Buffer.alloc(0), `flotilla:${purpose}`, 32));
  }

  async sign(kind: TokenKind, tenantId: string, subject: string, expiresAt: Date, id = randomUUID()): Promise<string> {
    const claims: Record<string, unknown> = { 'mender.tenant': tenantId, scp: 'mender.*' };
    claims[kind === 'user' ? 'mender.user' : 'mender.device'] = true;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setSubject(subject)
      .setJti(id)
      .setIssuedAt()
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .sign(this.privateKey);
  }

  /**
   * Verifies signature, issuer and expiry. Whether the token was revoked is the owner domain's question. A token
   * verified before answers from memory until its `exp` (whole seconds: the same instant jose calls it expired);
   * only the exact same string hits, and anything else goes through jose, so failures are jose's as before.
   */
  async verify(token: string): Promise<TokenClaims> {
    const known = this.verified.get(token);
    if (known) {
      if (known.expiresAt.getTime() > Date.now()) return known;
      this.verified.delete(token);
    }
    const claims = await this.verifyWithJose(token);
    if (this.verified.size >= VERIFIED_MAX) this.verified.delete(this.verified.keys().next().value as string);
    this.verified.set(token, claims);
    return claims;
  }

  private async verifyWithJose(token: string): Promise<TokenClaims> {
    try {
      const { payload } = await jwtVerify(token, this.publicKey, { issuer: ISSUER, algorithms: ['RS256'] });
      const kind: TokenKind | undefined = payload['mender.device']
        ? 'device'
        : payload['mender.user']
          ? 'user'
          : undefined;
      const tenantId = payload['mender.tenant'];
      if (!kind || typeof tenantId !== 'string' || !payload.sub || !payload.jti || !payload.exp) {
        throw new Unauthorized('malformed token claims');
      }
      return Object.freeze({
        kind,
        id: payload.jti,
        subject: payload.sub,
        tenantId,
        expiresAt: new Date(payload.exp * 1000),
      });
    } catch (error) {
      if (error instanceof Unauthorized) throw error;
      if (error instanceof joseErrors.JWTExpired) throw new Unauthorized('token expired');
      throw new Unauthorized('invalid token');
    }
  }
}
