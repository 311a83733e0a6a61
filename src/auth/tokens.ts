// Signs and verifies the JWTs of users (login and personal access tokens) and devices. One RS256 key,
// kept in the database so that every server process signs and verifies with the same key. Verified tokens are
// remembered until their `exp`, so a device's every poll does not pay an RSA verification (55-130 µs with jose).
// The revocation feed that keeps every process's token caches honest hangs off the issuer (see revocations.ts).
// A token's first verification takes a fast path (node:crypto, 25 µs) when it has exactly the shape this issuer
// signs; any other token, and any that the fast path does not accept, goes through jose, whose answer stands.
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomUUID,
  verify as verifySignature,
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
/**
 * The verified tokens are found by the last characters of their signature (random to whoever lacks the key), so
 * that a lookup hashes a short string rather than the whole 700-character token; the whole token is then compared.
 */
const KEY_CHARS = 22;

/** The base64url alphabet, nothing else (Node's decoder skips other characters; jose's refuses them). */
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

interface Verified {
  token: string;
  claims: TokenClaims;
}

export class TokenIssuer {
  /** Signature tail → the token and its claims, for tokens that passed `verify`; used only before its `exp`. */
  private readonly verified = new Map<string, Verified>();

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
   * only the exact same string hits. A new token of our own shape is checked with node:crypto (`verifyOwnShape`);
   * anything else goes through jose, so failures are jose's as before.
   */
  async verify(token: string): Promise<TokenClaims> {
    const key = token.slice(-KEY_CHARS);
    const known = this.verified.get(key);
    if (known && known.token === token) {
      if (known.claims.expiresAt.getTime() > Date.now()) return known.claims;
      this.verified.delete(key);
    }
    const claims = this.verifyOwnShape(token) ?? (await this.verifyWithJose(token));
    this.verified.delete(key);
    if (this.verified.size >= VERIFIED_MAX) this.verified.delete(this.verified.keys().next().value as string);
    this.verified.set(key, { token, claims });
    return claims;
  }

  /**
   * The claims of a token of exactly the shape `sign` makes (header `{"alg":"RS256","typ":"JWT"}` or without `typ`,
   * base64url parts, a JSON object of claims), checked as jose checks it with our options: the RS256 signature,
   * `iss`, `exp` (required here) and `nbf` against the current second, `iat` a number when present. Undefined for
   * anything it does not accept, which then goes to jose: this path may refuse more than jose, never accept more.
   */
  private verifyOwnShape(token: string): TokenClaims | undefined {
    const parts = token.split('.');
    if (parts.length !== 3 || !parts.every((part) => BASE64URL.test(part))) return undefined;
    const [header64, payload64, signature64] = parts;
    let header: unknown;
    let payload: Record<string, unknown>;
    try {
      header = JSON.parse(utf8.decode(Buffer.from(header64, 'base64url')));
      payload = JSON.parse(utf8.decode(Buffer.from(payload64, 'base64url')));
    } catch {
      return undefined;
    }
    if (!isPlainObject(header) || header.alg !== 'RS256') return undefined;
    if (!Object.keys(header).every((name) => name === 'alg' || (name === 'typ' && header.typ === 'JWT'))) {
      return undefined;
    }
    const signed = Buffer.from(`${header64}.${payload64}`, 'ascii');
    try {
      if (!verifySignature('sha256', signed, this.publicKey, Buffer.from(signature64, 'base64url'))) return undefined;
    } catch {
      return undefined;
    }
    if (!isPlainObject(payload) || payload.iss !== ISSUER) return undefined;
    const now = Math.floor(Date.now() / 1000);
    const { exp, nbf, iat } = payload;
    if (typeof exp !== 'number' || !Number.isFinite(exp) || exp <= now) return undefined;
    if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now)) return undefined;
    if (iat !== undefined && typeof iat !== 'number') return undefined;
    return claimsOf(payload);
  }

  private async verifyWithJose(token: string): Promise<TokenClaims> {
    try {
      const { payload } = await jwtVerify(token, this.publicKey, { issuer: ISSUER, algorithms: ['RS256'] });
      const claims = claimsOf(payload);
      if (!claims) throw new Unauthorized('malformed token claims');
      return claims;
    } catch (error) {
      if (error instanceof Unauthorized) throw error;
      if (error instanceof joseErrors.JWTExpired) throw new Unauthorized('token expired');
      throw new Unauthorized('invalid token');
    }
  }
}

/** Flotilla's claims of a verified payload; undefined when they are not all there. */
function claimsOf(payload: Record<string, unknown>): TokenClaims | undefined {
  const kind: TokenKind | undefined = payload['mender.device'] ? 'device' : payload['mender.user'] ? 'user' : undefined;
  const { sub, jti, exp } = payload;
  const tenantId = payload['mender.tenant'];
  if (!kind || typeof tenantId !== 'string' || typeof sub !== 'string' || typeof jti !== 'string') return undefined;
  if (!sub || !jti || typeof exp !== 'number' || !exp) return undefined;
  return Object.freeze({ kind, id: jti, subject: sub, tenantId, expiresAt: new Date(exp * 1000) });
}

/** A JSON object (not an array, not null): what JSON.parse makes of `{…}`. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
