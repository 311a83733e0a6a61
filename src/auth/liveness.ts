// Token liveness held in memory: the positive answers to "is token id X of this tenant alive, and whose is it?".
// An entry answers only while the revocation feed is fresh (see revocations.ts for the bound) and until the token's
// expiry; the feed drops the entries of revoked tokens and of revoked owners (a device or user whose tokens all
// went). Negative answers are never kept. Bounded: when full, the oldest entry goes. A lookup goes tenant, then
// token id (the claims' own strings, whose hashes V8 keeps), so the hot path builds and hashes no composite key.
import type { Revocation, RevocationFeed, RevocationKind } from './revocations.js';

interface Entry<T> {
  tenantId: string;
  tokenId: string;
  owner: string;
  expiresAt: number;
  value: T;
}

const keyOf = (tenantId: string, id: string) => `${tenantId}/${id}`;

export class LivenessCache<T> {
  /** tenant/token key → entry, in insertion order (the oldest goes first when full). */
  private readonly entries = new Map<string, Entry<T>>();
  /** The same entries by tenant, then token id: what `get` reads. */
  private readonly byTenant = new Map<string, Map<string, Entry<T>>>();
  /** Owner key → keys of its cached tokens, so that revoking a device or user finds them without a scan. */
  private readonly byOwner = new Map<string, Set<string>>();

  constructor(
    private readonly feed: RevocationFeed,
    private readonly kinds: { token: RevocationKind; owner: RevocationKind },
    private readonly max = 200_000,
  ) {
    feed.subscribe((batch) => this.apply(batch));
  }

  /** The cached value of a live token, if the cache may answer now. */
  get(tenantId: string, tokenId: string, now: number): T | undefined {
    if (!this.feed.fresh(now)) return undefined;
    const entry = this.byTenant.get(tenantId)?.get(tokenId);
    if (!entry) return undefined;
    if (entry.expiresAt <= now) {
      this.delete(keyOf(tenantId, tokenId));
      return undefined;
    }
    return entry.value;
  }

  /** Read before going to the database; `set` keeps the answer only if nothing was revoked in between. */
  generation(): number {
    return this.feed.generation;
  }

  set(generation: number, tenantId: string, tokenId: string, ownerId: string, expiresAt: number, value: T): void {
    if (generation !== this.feed.generation) return;
    const key = keyOf(tenantId, tokenId);
    this.delete(key);
    if (this.entries.size >= this.max) this.delete(this.entries.keys().next().value as string);
    const owner = keyOf(tenantId, ownerId);
    const entry = { tenantId, tokenId, owner, expiresAt, value };
    this.entries.set(key, entry);
    let tokensOf = this.byTenant.get(tenantId);
    if (!tokensOf) {
      tokensOf = new Map();
      this.byTenant.set(tenantId, tokensOf);
    }
    tokensOf.set(tokenId, entry);
    let tokens = this.byOwner.get(owner);
    if (!tokens) {
      tokens = new Set();
      this.byOwner.set(owner, tokens);
    }
    tokens.add(key);
  }

  get size(): number {
    return this.entries.size;
  }

  private delete(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.entries.delete(key);
    const tokensOf = this.byTenant.get(entry.tenantId);
    tokensOf?.delete(entry.tokenId);
    if (tokensOf?.size === 0) this.byTenant.delete(entry.tenantId);
    const tokens = this.byOwner.get(entry.owner);
    tokens?.delete(key);
    if (tokens?.size === 0) this.byOwner.delete(entry.owner);
  }

  private apply(batch: readonly Revocation[] | null): void {
    if (batch === null) {
      this.entries.clear();
      this.byTenant.clear();
      this.byOwner.clear();
      return;
    }
    for (const r of batch) {
      if (r.kind === this.kinds.token) this.delete(keyOf(r.tenantId, r.id));
      else if (r.kind === this.kinds.owner) {
        for (const key of [...(this.byOwner.get(keyOf(r.tenantId, r.id)) ?? [])]) this.delete(key);
      }
    }
  }
}
