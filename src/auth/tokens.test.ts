// The verified-token cache: a token verified once answers from memory until its `exp`, and every token that fails
// fails with the same error as without the cache.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { openStore, type Store } from '../store/db.js';
import { migrate } from '../store/migrate.js';
import { TokenIssuer } from './tokens.js';

const tenMinutes = () => new Date(Date.now() + 10 * 60_000);

describe('token verification', () => {
  let store: Store;
  let issuer: TokenIssuer;
  before(async () => {
    store = await openStore({ databaseUrl: 'sqlite::memory:', dataDir: '' });
    await migrate(store.db);
    issuer = await TokenIssuer.load(store);
  });
  after(() => store.close());

  it('answers a token verified before from memory, with the same claims', async () => {
    const token = await issuer.sign(
      'device',
      'tenant-1',
      'device-1',
      tenMinutes(),
      '00000000-0000-4000-8000-000000000001',
    );
    const first = await issuer.verify(token);
    assert.deepEqual(
      { kind: first.kind, id: first.id, subject: first.subject, tenantId: first.tenantId },
      { kind: 'device', id: '00000000-0000-4000-8000-000000000001', subject: 'device-1', tenantId: 'tenant-1' },
    );
    assert.equal(await issuer.verify(token), first, 'the second verification is the remembered one');
    assert.ok(Object.isFrozen(first), 'callers share the claims, so nobody may change them');
  });

  it('stops answering at `exp`: the token fails as expired, as jose says', async () => {
    const expiresAt = new Date(Math.ceil(Date.now() / 1000) * 1000 + 1000);
    const token = await issuer.sign('user', 'tenant-1', 'user-1', expiresAt);
    assert.equal((await issuer.verify(token)).subject, 'user-1');
    await new Promise((resolve) => setTimeout(resolve, expiresAt.getTime() - Date.now() + 50));
    await assert.rejects(issuer.verify(token), { name: 'Unauthorized', message: 'token expired' });
    await assert.rejects(issuer.verify(token), { message: 'token expired' }, 'and again, not from memory');
  });

  it('refuses a token that differs in one character from a remembered one', async () => {
    const token = await issuer.sign('device', 'tenant-1', 'device-2', tenMinutes());
    await issuer.verify(token);
    const [header, payload, signature] = token.split('.');
    const flipped = signature.at(-2) === 'A' ? 'B' : 'A';
    const tampered = `${header}.${payload}.${signature.slice(0, -2)}${flipped}${signature.at(-1)}`;
    await assert.rejects(issuer.verify(tampered), { message: 'invalid token' });
    const otherPayload = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), sub: 'x' }),
    );
    await assert.rejects(issuer.verify(`${header}.${otherPayload.toString('base64url')}.${signature}`), {
      message: 'invalid token',
    });
  });

  it('refuses tokens of another key, another issuer or without Flotilla claims, as before', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const foreign = await new SignJWT({ 'mender.tenant': 't', 'mender.device': true })
      .setProtectedHeader({ alg: 'RS256' })
      .setIssuer('Flotilla')
      .setSubject('d')
      .setJti('j')
      .setExpirationTime('10m')
      .sign(privateKey);
    await assert.rejects(issuer.verify(foreign), { message: 'invalid token' });
    await assert.rejects(issuer.verify('not.a.jwt'), { message: 'invalid token' });
  });
});
