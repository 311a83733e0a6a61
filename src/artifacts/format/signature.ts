// Verification of `manifest.sig`: the base64 signature of the manifest's exact bytes, as `mender-artifact sign`
// writes it. RSA keys: PKCS#1 v1.5 over SHA-256. ECDSA keys: SHA-256, and mender-artifact stores the signature as
// the raw 64-byte r||s (P-256), not DER; it also accepts a DER signature (KMS signers), so we do both.
import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { Invalid } from '../../errors.js';

export function parseVerifyKeys(pems: string[]): KeyObject[] {
  return pems.map((pem, index) => {
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch {
      throw new Invalid(`verification key ${index + 1} is not a PEM public key`);
    }
    if (key.asymmetricKeyType !== 'rsa' && key.asymmetricKeyType !== 'ec')
      throw new Invalid(
        `verification key ${index + 1} is neither RSA nor ECDSA, which mender-artifact cannot sign with`,
      );
    return key;
  });
}

function decodeSignature(text: Buffer): Buffer | null {
  const trimmed = text.toString('latin1').trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) || trimmed.length % 4 !== 0) return null;
  return Buffer.from(trimmed, 'base64');
}

/** Index of the first key that verifies the signature, or -1. */
export function verifyManifest(manifest: Buffer, signatureText: Buffer, keys: KeyObject[]): number {
  const signature = decodeSignature(signatureText);
  if (!signature) return -1;
  return keys.findIndex((key) => {
    try {
      if (key.asymmetricKeyType === 'rsa') return verify('sha256', manifest, key, signature);
      const raw = verify('sha256', manifest, { key, dsaEncoding: 'ieee-p1363' }, signature);
      return raw || verify('sha256', manifest, { key, dsaEncoding: 'der' }, signature);
    } catch {
      // A signature of the wrong shape for this key.
      return false;
    }
  });
}
