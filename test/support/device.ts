// A test device that authenticates exactly as mender-client 3.4 does: identity data as a JSON string, its public
// key in PEM, the body as Go's JSON encoder writes it (trailing newline), signed over those exact bytes.
import { createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import type { FastifyInstance } from 'fastify';

export type KeyType = 'rsa' | 'ecdsa' | 'ed25519';

export interface TestDevice {
  identity: Record<string, string>;
  keyType: KeyType;
  privateKey: KeyObject;
  pubkey: string;
  /** The exact body bytes and their signature for an auth request. */
  authRequest(tenantToken?: string): { body: Buffer; signature: string };
  /** Sends the auth request; 200 carries the JWT. */
  authenticate(app: FastifyInstance, tenantToken?: string): Promise<{ statusCode: number; body: string }>;
}

export function makeKey(type: KeyType): KeyObject {
  if (type === 'rsa') return generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey;
  if (type === 'ecdsa') return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  return generateKeyPairSync('ed25519').privateKey;
}

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

export function testDevice(
  identity: Record<string, string>,
  keyType: KeyType = 'rsa',
  privateKey = makeKey(keyType),
): TestDevice {
  const pubkey = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  const device: TestDevice = {
    identity,
    keyType,
    privateKey,
    pubkey,
    authRequest(tenantToken = '') {
      const body = Buffer.from(
        `${JSON.stringify({ id_data: JSON.stringify(identity), pubkey, tenant_token: tenantToken })}\n`,
      );
      return { body, signature: signBody(privateKey, body) };
    },
    async authenticate(app, tenantToken) {
      const { body, signature } = device.authRequest(tenantToken);
      const res = await app.inject({
        method: 'POST',
        url: '/api/devices/v1/authentication/auth_requests',
        headers: { 'content-type': 'application/json', 'x-men-signature': signature },
        payload: body,
      });
      return { statusCode: res.statusCode, body: res.body };
    },
  };
  return device;
}
