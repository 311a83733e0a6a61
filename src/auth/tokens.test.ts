// The verified-token cache: a token verified once answers from memory until its `exp`, and every token that fails
// fails with the same error as without the cache.
import assert from 'node:assert/strict';
import { createPrivateKey, sign as cryptoSign, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { jwtVerify, SignJWT } from 'jose';
import { openStore, type Store } from '../store/db.js';
import { migrate } from '../store/migrate.js';
import { type TokenClaims, TokenIssuer } from './tokens.js';

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

  it("accepts on its fast path only what jose accepts, with jose's claims", async () => {
    const row = await store.db.selectFrom('signing_keys').select('private_pem').executeTakeFirstOrThrow();
    const key: KeyObject = createPrivateKey(row.private_pem);
    const fast = (token: string) =>
      (issuer as unknown as { verifyOwnShape(token: string): TokenClaims | undefined }).verifyOwnShape(token);
    const base = { 'mender.tenant': 't', 'mender.device': true, iss: 'Flotilla', sub: 'd', jti: 'j' };
    const inTen = Math.floor(Date.now() / 1000) + 600;
    // Made by hand (jose would refuse to sign some of these headers).
    const sign = async (payload: Record<string, unknown>, header: object = { alg: 'RS256', typ: 'JWT' }) => {
      const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
      return `${input}.${cryptoSign('sha256', Buffer.from(input), key).toString('base64url')}`;
    };
    const ours = await issuer.sign('device', 't', 'd', tenMinutes(), '00000000-0000-4000-8000-000000000002');
    const [h, p, sig] = ours.split('.');
    const cases: [string, string][] = [
      ['as signed', ours],
      ['no typ', await sign({ ...base, exp: inTen }, { alg: 'RS256' })],
      ['a crit header', await sign({ ...base, exp: inTen }, { alg: 'RS256', crit: ['exp'] })],
      ['a kid header', await sign({ ...base, exp: inTen }, { alg: 'RS256', kid: 'x' })],
      ['another issuer', await sign({ ...base, iss: 'other', exp: inTen })],
      ['expired', await sign({ ...base, exp: inTen - 1200 })],
      ['expiring this second', await sign({ ...base, exp: Math.floor(Date.now() / 1000) })],
      ['not yet valid', await sign({ ...base, exp: inTen, nbf: inTen - 60 })],
      ['valid from now', await sign({ ...base, exp: inTen, nbf: Math.floor(Date.now() / 1000) - 1 })],
      ['iat a string', await sign({ ...base, exp: inTen, iat: 'now' })],
      ['exp a string', await sign({ ...base, exp: String(inTen) })],
      ['no exp', await sign({ ...base })],
      ['no issuer', await sign({ ...base, iss: undefined, exp: inTen })],
      ['padded signature', `${ours}=`],
      ['a stray character', `${h}.${p}.${sig.slice(0, 10)}*${sig.slice(10)}`],
      ['a short signature', `${h}.${p}.${sig.slice(0, -4)}`],
      ['four parts', `${ours}.x`],
    ];
    let accepted = 0;
    for (const [what, token] of cases) {
      const byJose = await jwtVerify(token, issuer['publicKey' as keyof TokenIssuer] as unknown as KeyObject, {
        issuer: 'Flotilla',
        algorithms: ['RS256'],
      }).then(
        ({ payload }) => payload,
        () => undefined,
      );
      const claims = fast(token);
      if (!claims) continue;
      accepted++;
      assert.ok(byJose, `${what}: accepted on the fast path, so jose must accept it too`);
      assert.deepEqual(
        { id: claims.id, subject: claims.subject, tenantId: claims.tenantId, exp: claims.expiresAt.getTime() / 1000 },
        { id: byJose.jti, subject: byJose.sub, tenantId: byJose['mender.tenant'], exp: byJose.exp },
        what,
      );
    }
    assert.ok(fast(ours), 'a token as the issuer signs it takes the fast path');
    assert.equal(accepted, 3, 'as signed, without typ, and valid from now');
  });
});
