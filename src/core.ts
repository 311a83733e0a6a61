// What every domain service may depend on: configuration, the store, tenants, tokens, blobs and links. Its own
// module, so that the domains depend on it and services.ts on the domains, never the other way round.
import type { TokenIssuer } from './auth/tokens.js';
import type { LinkSigner } from './blobs/links.js';
import type { BlobStore } from './blobs/store.js';
import type { Config } from './config.js';
import type { Store } from './store/db.js';
import type { TenantService } from './tenants/service.js';

/** What every domain service may depend on. */
export interface CoreDeps {
  config: Config;
  store: Store;
  tenants: TenantService;
  tokens: TokenIssuer;
  blobs: BlobStore;
  links: LinkSigner;
}
