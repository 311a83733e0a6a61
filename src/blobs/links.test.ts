import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LinkSigner } from './links.js';

describe('signed links', () => {
  const signer = new LinkSigner(Buffer.from('0123456789abcdef0123456789abcdef'));
  const later = new Date(Date.now() + 60_000);

  it('accepts its own signature for the same path before expiry', () => {
    const q = signer.sign('/api/downloads/v1/t/artifacts/a', later);
    assert.equal(signer.verify('/api/downloads/v1/t/artifacts/a', q), true);
  });

  it('refuses another path, a changed expiry, a foreign key and an expired link', () => {
    const q = signer.sign('/a', later);
    assert.equal(signer.verify('/b', q), false);
    assert.equal(signer.verify('/a', { ...q, expires: String(Number(q.expires) + 1) }), false);
    const other = new LinkSigner(Buffer.from('another secret, another server..'));
    assert.equal(other.verify('/a', q), false);
    assert.equal(signer.verify('/a', q, new Date(later.getTime() + 1000)), false);
    assert.equal(signer.verify('/a', {}), false);
    assert.equal(signer.verify('/a', { expires: 'soon', signature: q.signature }), false);
  });
});
