// Device public keys and request signatures, as mender-client and mender-connect make them: RSA (PKCS#1 v1.5,
// SHA-256), ECDSA (SHA-256, ASN.1 DER signature) and Ed25519 (over the raw message).
import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { Invalid } from '../errors.js';

export interface DeviceKey {
  key: KeyObject;
  /** SPKI PEM, the one form we store and compare. */
  pem: string;
}

/**
 * Parses a PEM `PUBLIC KEY` (SPKI) block, as Mender does; other PEM blocks (private keys, certificates, PKCS#1)
 * are refused although node could derive a public key from them. `context` prefixes error messages.
 */
export function parsePublicKey(pem: unknown, context: string): DeviceKey {
  if (typeof pem !== 'string' || pem === '') throw new Invalid(`${context}: pubkey must be provided`);
  if (/-----BEGIN ([A-Z0-9 ]+)-----/.exec(pem)?.[1] !== 'PUBLIC KEY') {
    throw new Invalid(`${context}: cannot decode public key`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch {
    throw new Invalid(`${context}: cannot decode public key`);
  }
  const type = key.asymmetricKeyType;
  if (type !== 'rsa' && type !== 'ec' && type !== 'ed25519') {
    throw new Invalid(`${context}: unsupported public key type ${type}`);
  }
  if (type === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
    throw new Invalid(`${context}: RSA keys must have at least 2048 bits`);
  }
  return { key, pem: key.export({ type: 'spki', format: 'pem' }).toString() };
}

/** Checks a base64 signature over the exact request bytes. */
export function verifySignature(key: KeyObject, message: Buffer, signatureB64: string): boolean {
  const signature = Buffer.from(signatureB64, 'base64');
  if (signature.length === 0) return false;
  try {
    switch (key.asymmetricKeyType) {
      case 'rsa':
        return verify('sha256', message, key, signature);
      case 'ec':
        return verify('sha256', message, { key, dsaEncoding: 'der' }, signature);
      case 'ed25519':
        return verify(null, message, key, signature);
      default:
        return false;
    }
  } catch {
    return false;
  }
}
