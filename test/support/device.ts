// A test device that authenticates exactly as mender-client 3.4 does: identity data as the JSON string Go's
// json.Marshal makes of it (sorted keys), the body as Go's JSON encoder writes it (fields in the client's order,
// HTML-escaped, trailing newline), signed over those exact bytes with an RSA 3072, ECDSA P-256 or Ed25519 key.
import { createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import type { FastifyInstance } from 'fastify';

export type KeyType = 'rsa' | 'ecdsa' | 'ed25519';
/** As the client's identity script gives it: a key printed more than once becomes a list. */
export type Identity = Record<string, string | string[]>;

export const AUTH_REQUESTS = '/api/devices/v1/authentication/auth_requests';
const DEVAUTH = '/api/management/v2/devauth';

export interface TestDevice {
  identity: Identity;
  keyType: KeyType;
  privateKey: KeyObject;
  pubkey: string;
  /** The exact body bytes and their signature for an auth request. */
  authRequest(tenantToken?: string): { body: Buffer; signature: string };
  /** Sends the auth request as the client does; 200 carries the bare JWT. */
  authenticate(app: FastifyInstance, tenantToken?: string): Promise<{ statusCode: number; body: string }>;
  /** Asks, has an operator (`userToken`) accept the auth set, and asks again; returns the device JWT and ids. */
  enroll(
    app: FastifyInstance,
    userToken: string,
    tenantToken?: string,
  ): Promise<{ token: string; deviceId: string; authSetId: string }>;
}

export function makeKey(type: KeyType): KeyObject {
  if (type === 'rsa') return generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey;
  if (type === 'ecdsa') return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  return generateKeyPairSync('ed25519').privateKey;
}

/** RSA PKCS#1 v1.5 over SHA-256, ECDSA over SHA-256 (ASN.1 DER), Ed25519 over the raw bytes; base64. */
export function signBody(privateKey: KeyObject, body: Buffer): string {
  const type = privateKey.asymmetricKeyType;
  const signature =
    type === 'ed25519'
      ? sign(null, body, privateKey)
      : type === 'ec'
        ? sign('sha256', body, { key: privateKey, dsaEncoding: 'der' })
        : sign('sha256', body, privateKey);
  return signature.toString('base64');
}

/** JSON as Go's encoding/json writes it: `<`, `>`, `&`, U+2028 and U+2029 escaped; map keys sorted bytewise. */
export function goJson(value: unknown): string {
  const sorted = (v: unknown): unknown => {
    if (Array.isArray(v) || v === null || typeof v !== 'object') return v;
    const keys = Object.keys(v).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    return Object.fromEntries(keys.map((k) => [k, sorted((v as Record<string, unknown>)[k])]));
  };
  return JSON.stringify(sorted(value)).replace(
    /[<>&\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

export function testDevice(identity: Identity, keyType: KeyType = 'rsa', privateKey = makeKey(keyType)): TestDevice {
  const pubkey = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  const device: TestDevice = {
    identity,
    keyType,
    privateKey,
    pubkey,
    authRequest(tenantToken = '') {
      // A Go struct keeps its field order (id_data, tenant_token, pubkey); goJson only sorts map keys, so the
      // envelope is written by hand around the encoded fields.
      const field = (name: string, value: string) => `${JSON.stringify(name)}:${goJson(value)}`;
      const fields = [field('id_data', goJson(identity)), field('tenant_token', tenantToken), field('pubkey', pubkey)];
      const body = Buffer.from(`{${fields.join(',')}}\n`);
      return { body, signature: signBody(privateKey, body) };
    },
    async authenticate(app, tenantToken = '') {
      const { body, signature } = device.authRequest(tenantToken);
      const res = await app.inject({
        method: 'POST',
        url: AUTH_REQUESTS,
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${tenantToken}`,
          'x-men-signature': signature,
        },
        payload: body,
      });
      return { statusCode: res.statusCode, body: res.body };
    },
    async enroll(app, userToken, tenantToken = '') {
      const asked = await device.authenticate(app, tenantToken);
      if (asked.statusCode !== 401) throw new Error(`enroll: expected 401 while pending, got ${asked.statusCode}`);
      const management = { authorization: `Bearer ${userToken}` };
      const search = await app.inject({
        method: 'POST',
        url: `${DEVAUTH}/devices/search?per_page=500`,
        headers: management,
        payload: { status: 'pending' },
      });
      const devices = search.json() as { id: string; auth_sets: { id: string; pubkey: string }[] }[];
      const found = devices
        .flatMap((d) => d.auth_sets.map((a) => ({ deviceId: d.id, authSetId: a.id, pubkey: a.pubkey })))
        .find((a) => createPublicKey(a.pubkey).equals(createPublicKey(pubkey)));
      if (!found) throw new Error('enroll: the pending auth set is not listed');
      const accept = await app.inject({
        method: 'PUT',
        url: `${DEVAUTH}/devices/${found.deviceId}/auth/${found.authSetId}/status`,
        headers: management,
        payload: { status: 'accepted' },
      });
      if (accept.statusCode !== 204) throw new Error(`enroll: accept answered ${accept.statusCode} ${accept.body}`);
      const admitted = await device.authenticate(app, tenantToken);
      if (admitted.statusCode !== 200) throw new Error(`enroll: auth answered ${admitted.statusCode}`);
      return { token: admitted.body, deviceId: found.deviceId, authSetId: found.authSetId };
    },
  };
  return device;
}
