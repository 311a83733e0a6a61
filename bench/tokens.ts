// Device JWTs in bulk for the benchmarks. The server's TokenIssuer signs one token; the others are copies of it with
// another subject and token id, signed RS256 with the same key on worker threads (one per core). An RSA signature
// costs about a millisecond, and the real-fleet poll needs tens of thousands of devices with a token each: one
// thread would take that many seconds of the run's budget. The copies carry exactly the claims the issuer writes,
// whatever they are, so the server cannot tell them apart from its own.
import type { randomUUID } from 'node:crypto';
import { cpus } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { TokenIssuer } from '../src/auth/tokens.js';
import type { Store } from '../src/store/db.js';

const SIGNER = `
const { parentPort, workerData } = require('node:worker_threads');
const { createPrivateKey, sign } = require('node:crypto');
const key = createPrivateKey(workerData.pem);
parentPort.postMessage(workerData.inputs.map((input) => sign('sha256', Buffer.from(input), key).toString('base64url')));`;

const json64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const parse64 = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

function signOnWorker(pem: string, inputs: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    // No --import tsx in the worker: it runs the plain script above.
    const worker = new Worker(SIGNER, { eval: true, workerData: { pem, inputs }, execArgv: [] });
    worker.once('message', (signatures: string[]) => {
      resolve(signatures);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

export interface DeviceTokenSpec {
  deviceId: string;
  tokenId: ReturnType<typeof randomUUID>;
}

/** Device JWTs for `specs`, all expiring at `expires`, as `issuer` would sign them. */
export async function signDeviceTokens(
  store: Store,
  issuer: TokenIssuer,
  tenantId: string,
  expires: Date,
  specs: DeviceTokenSpec[],
): Promise<string[]> {
  if (specs.length === 0) return [];
  const template = await issuer.sign('device', tenantId, specs[0].deviceId, expires, specs[0].tokenId);
  const [header64, payload64] = template.split('.');
  const header = parse64(header64) as { alg?: string };
  const payload = parse64(payload64) as Record<string, unknown>;
  if (header.alg !== 'RS256' || payload.sub !== specs[0].deviceId || payload.jti !== specs[0].tokenId) {
    // Not the token shape this copier knows: let the issuer sign every one (slow, but right).
    const tokens = [template];
    for (const spec of specs.slice(1))
      tokens.push(await issuer.sign('device', tenantId, spec.deviceId, expires, spec.tokenId));
    return tokens;
  }
  const key = await store.db
    .selectFrom('signing_keys')
    .select('private_pem')
    .where('id', '=', 'default')
    .executeTakeFirstOrThrow();
  const inputs = specs
    .slice(1)
    .map((spec) => `${header64}.${json64({ ...payload, sub: spec.deviceId, jti: spec.tokenId })}`);
  const workers = Math.max(1, Math.min(cpus().length, Math.ceil(inputs.length / 500)));
  const share = Math.ceil(inputs.length / workers);
  const parts = await Promise.all(
    Array.from({ length: workers }, (_, w) => signOnWorker(key.private_pem, inputs.slice(w * share, (w + 1) * share))),
  );
  const signatures = parts.flat();
  return [template, ...inputs.map((input, i) => `${input}.${signatures[i]}`)];
}
