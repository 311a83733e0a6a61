// The transfer benchmarks on each blob store: the folder of the embedded default, and S3 on a throw-away radosgw
// (Debian's Ceph, test/support/radosgw.ts). On each: the artifact upload against a bare server doing the same work,
// then the Mender download link and a hawkBit payload file against the plainest stream of the same bytes.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { CreateBucketCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { type Radosgw, radosgwMissing, startRadosgw } from '../test/support/radosgw.js';
import { call, login } from './api.js';
import { benchDownload, type DownloadResult, presignedObjectUrl, startObjectServer } from './download.js';
import { MiB, progress, type Server, startFileServer, startServer } from './support.js';
import {
  benchUpload,
  makeArtifact,
  type S3Target,
  startUploadBaseline,
  type UploadResult,
  withS3Client,
} from './upload.js';

export type StoreName = 'folder' | 's3';
export const STORES: StoreName[] = ['folder', 's3'];

export interface TransferSizes {
  sizeMiB: number;
  uploadRuns: number;
  baselineRuns: number;
  downloadRuns: number;
}

export interface TransferResult {
  store: StoreName;
  upload: UploadResult;
  /** The link a Mender device is handed: served by Flotilla (folder), or by the object store itself (S3). */
  download: DownloadResult;
  /** One payload file of the artifact as a hawkBit DDI target fetches it: always served by Flotilla. */
  payload: DownloadResult;
}

/** Why the S3 half cannot run here, or undefined. */
export function s3Missing(): string | undefined {
  return radosgwMissing();
}

const EMAIL = 'bench@example.com';
const PASSWORD = 'bench-password';
const BUCKET = 'flotilla-bench';

export async function benchTransfer(
  work: string,
  sizes: TransferSizes,
  stores: StoreName[] = ['folder'],
): Promise<TransferResult[]> {
  const artifact = makeArtifact(work, sizes.sizeMiB);
  const payloadFile = join(work, 'rootfs.img');
  const results: TransferResult[] = [];
  for (const store of stores) {
    let rgw: Radosgw | undefined;
    try {
      let s3: S3Target | undefined;
      if (store === 's3') {
        progress('transfer: starting radosgw');
        rgw = await startRadosgw();
        s3 = { endpoint: rgw.endpoint, region: rgw.region, bucket: BUCKET, credentials: rgw.credentials };
        await withS3Client(s3, (client) => client.send(new CreateBucketCommand({ Bucket: BUCKET })));
      }
      results.push(await benchStore(store, join(work, store), artifact, payloadFile, sizes, s3));
    } finally {
      await rgw?.stop();
    }
  }
  return results;
}

async function benchStore(
  store: StoreName,
  dataDir: string,
  artifact: string,
  payloadFile: string,
  sizes: TransferSizes,
  s3?: S3Target,
): Promise<TransferResult> {
  const size = statSync(artifact).size;
  const env: Record<string, string> = {
    FLOTILLA_ADMIN_EMAIL: EMAIL,
    FLOTILLA_ADMIN_PASSWORD: PASSWORD,
    FLOTILLA_MAX_ARTIFACT_SIZE: String(Math.max(4 * 1024 * MiB, 2 * size)),
  };
  if (s3) {
    Object.assign(env, {
      FLOTILLA_S3_URL: `${s3.endpoint}/${s3.bucket}/flotilla`,
      FLOTILLA_S3_REGION: s3.region,
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    });
  }
  // BENCH_TRANSFER_PROFILE=DIR: the server runs under `node --cpu-prof` and leaves its profile in DIR at exit.
  const profile = process.env.BENCH_TRANSFER_PROFILE;
  const execArgv = profile ? ['--cpu-prof', `--cpu-prof-dir=${join(profile, store)}`] : [];
  const server = await startServer(join(dataDir, 'server'), env, { execArgv });
  const helpers: Server[] = [];
  const helper = async (started: Promise<Server>) => {
    const h = await started;
    helpers.push(h);
    return h;
  };
  try {
    const token = await login(server.url, EMAIL, PASSWORD);
    const baseline = await helper(startUploadBaseline(s3 ? { s3 } : { dir: join(dataDir, 'baseline') }));
    const upload = await benchUpload(server, token, baseline, artifact, sizes);
    await baseline.stop();

    const listed = await call(server.url, token, 'GET', '/api/management/v1/deployments/artifacts', 200);
    const [{ id }] = (await listed.json()) as { id: string }[];
    const link = (await (
      await call(server.url, token, 'GET', `/api/management/v1/deployments/artifacts/${id}/download`, 200)
    ).json()) as { uri: string };
    const objectKey = s3 ? await artifactObject(s3, id) : '';
    const fileServer = s3 ? undefined : await helper(startFileServer(artifact));
    const plainUrl = fileServer ? fileServer.url : await presignedObjectUrl(s3 as S3Target, objectKey);
    const download = await benchDownload(
      `${store}, signed link`,
      server,
      { url: link.uri },
      plainUrl,
      sizes.downloadRuns,
      fileServer,
    );

    const file = await ddiPayloadLink(server.url, token);
    const payloadSize = statSync(payloadFile).size;
    const plainPayload = await helper(
      s3 ? startObjectServer(s3, objectKey, payloadSize) : startFileServer(payloadFile),
    );
    const payload = await benchDownload(
      `${store}, hawkBit payload file`,
      server,
      file,
      plainPayload.url,
      sizes.downloadRuns,
      plainPayload,
    );
    if (payload.sizeBytes !== payloadSize) throw new Error(`payload file size ${payload.sizeBytes} != ${payloadSize}`);
    return { store, upload, download, payload };
  } finally {
    for (const h of helpers) await h.stop();
    await server.stop();
  }
}

/** The object holding artifact `id` (the server's key prefix and tenant are its own business). */
async function artifactObject(s3: S3Target, id: string): Promise<string> {
  const listed = await withS3Client(s3, (client) => client.send(new ListObjectsV2Command({ Bucket: s3.bucket })));
  const key = (listed.Contents ?? []).map((o) => o.Key ?? '').find((k) => k.endsWith(`/artifacts/${id}`));
  if (!key) throw new Error(`no object for artifact ${id}`);
  return key;
}

/** Deploys the artifact to a new DDI target and returns its payload file's download link, with the target's token. */
async function ddiPayloadLink(url: string, token: string): Promise<{ url: string; headers: Record<string, string> }> {
  const created = await call(url, token, 'POST', '/api/ddi/v1/targets', 201, {
    controller_id: 'bench-ddi',
    device_type: 'bench',
  });
  const target = (await created.json()) as { token: string; device_id: string };
  await call(url, token, 'POST', '/api/management/v1/deployments/deployments', 201, {
    name: 'bench-ddi',
    artifact_name: 'bench-1',
    devices: [target.device_id],
  });
  const headers = { authorization: `TargetToken ${target.token}` };
  const poll = (await (await fetch(`${url}/DEFAULT/controller/v1/bench-ddi`, { headers })).json()) as {
    _links: { deploymentBase: { href: string } };
  };
  progress('download: hashing the payload file for the DDI action (once)');
  const action = (await (await fetch(poll._links.deploymentBase.href, { headers })).json()) as {
    deployment: { chunks: { artifacts: { _links: { 'download-http': { href: string } } }[] }[] };
  };
  return { url: action.deployment.chunks[0].artifacts[0]._links['download-http'].href, headers };
}
