// A Mender device as mender-client 3.x talks to the server: a key pair, signed auth requests (the body's exact
// bytes, tenant token inside), inventory, the v2 update check with its provides, the download through the signed
// link, status reports downloading → installing → rebooting → success (or failure with a log), and its new
// artifact name kept and sent again. The installer is a no-op that reads the artifact through (simulation).
import { createHash, createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { Readable } from 'node:stream';
import { parseMenderArtifact } from '../artifacts/parse.js';
import { type AgentOptions, type Behaviour, type HttpCounter, installFile, type UpdateOutcome } from './common.js';
import { type ControlMapState, DeploymentGone, type UpdateControl } from './control/index.js';

const AUTH = '/api/devices/v1/authentication/auth_requests';
const INVENTORY = '/api/devices/v1/inventory/device/attributes';
const NEXT = '/api/devices/v2/deployments/device/deployments/next';
const STATUS = (id: string) => `/api/devices/v1/deployments/device/deployments/${id}/status`;
const LOG = (id: string) => `/api/devices/v1/deployments/device/deployments/${id}/log`;
const CONTROL_MAP = (id: string) => `/api/devices/v2/deployments/device/deployments/${id}/update_control_map`;

export interface MenderAgentOptions extends AgentOptions {
  tenantToken: string;
  mac: string;
  /** Update control maps (server and local) decide at install, reboot and commit; none: always continue. */
  control?: UpdateControl;
}

export class MenderAgent {
  readonly protocol = 'mender';
  private readonly key: KeyObject;
  private readonly pubkey: string;
  private token: string | undefined;
  artifactName: string;
  private gone = false;

  constructor(
    readonly options: MenderAgentOptions,
    private readonly http: HttpCounter,
    readonly behaviour: Behaviour = {},
  ) {
    this.key = generateKeyPairSync('ed25519').privateKey;
    this.pubkey = createPublicKey(this.key).export({ type: 'spki', format: 'pem' }).toString();
    this.artifactName = options.artifactName;
  }

  get identity(): Record<string, string> {
    return { mac: this.options.mac };
  }

  /**
   * One auth request; true once the server answers with a token (it does after an operator accepted us). `pending`:
   * the device is not admitted yet, so the server's 401 is the expected answer, not a failure.
   */
  async authenticate(pending = false): Promise<boolean> {
    const body = Buffer.from(
      `${JSON.stringify({
        id_data: JSON.stringify(this.identity),
        pubkey: this.pubkey,
        tenant_token: this.options.tenantToken,
      })}\n`,
    );
    const res = await this.http.request('POST', `${this.options.server}${AUTH}`, {
      body,
      headers: { 'content-type': 'application/json', 'x-men-signature': sign(null, body, this.key).toString('base64') },
      expect: pending ? [401] : [],
    });
    if (res.status !== 200) return false;
    this.token = res.text;
    return true;
  }

  get authenticated(): boolean {
    return this.token !== undefined;
  }

  private auth() {
    return { authorization: `Bearer ${this.token}` };
  }

  async sendInventory(): Promise<void> {
    await this.http.json('PATCH', `${this.options.server}${INVENTORY}`, this.auth(), [
      { name: 'device_type', value: this.options.deviceType },
      { name: 'artifact_name', value: this.artifactName },
    ]);
  }

  /** One update check; runs the update when there is one. */
  async poll(): Promise<UpdateOutcome | undefined> {
    if (this.gone) return undefined;
    // A 401 dropped the token (expired, revoked, or a server that could not check it): ask again, as mender-client does.
    if (!this.token && !(await this.authenticate())) return undefined;
    const res = await this.http.json('POST', `${this.options.server}${NEXT}`, this.auth(), {
      device_provides: { device_type: this.options.deviceType, artifact_name: this.artifactName },
      update_control_map: this.options.control !== undefined,
    });
    if (res.status === 401) this.token = undefined;
    if (res.status !== 200) return undefined;
    const next = JSON.parse(res.text) as {
      id: string;
      artifact: { artifact_name: string; source: { uri: string } };
      update_control_map?: unknown;
    };
    this.options.control?.set(next.update_control_map ?? null, 'server', next.id);
    return this.install(next.id, next.artifact.artifact_name, next.artifact.source.uri);
  }

  private async report(id: string, status: string): Promise<boolean> {
    const res = await this.http.json('PUT', `${this.options.server}${STATUS(id)}`, this.auth(), { status });
    return res.status === 204;
  }

  private async install(id: string, name: string, uri: string): Promise<UpdateOutcome> {
    if (!(await this.report(id, 'downloading'))) return 'aborted';
    if (this.behaviour.dropOff) {
      // Gone mid-update: never heard from again (the server's silent-device timeout ends the attempt).
      this.gone = true;
      return 'aborted';
    }
    const download = await this.http.request('GET', uri, {});
    const digest = createHash('sha256').update(download.bytes).digest('hex');
    if (download.status !== 200 || download.bytes.length === 0)
      return this.fail(id, `download failed: ${download.status}`);
    // As mender-client does while it installs: every checksum of the artifact's manifest must match.
    try {
      const parsed = await parseMenderArtifact(Readable.from([download.bytes]), {});
      if (parsed.name !== name) return this.fail(id, `the artifact is ${parsed.name}, not ${name}`);
    } catch (error) {
      return this.fail(id, `artifact verification failed: ${(error as Error).message}`);
    }
    if (!(await this.gate(id, 'ArtifactInstall_Enter'))) return this.fail(id, 'update control: failed before install');
    if (!(await this.report(id, 'installing'))) return 'aborted';
    if (this.behaviour.slowMs) await new Promise((r) => setTimeout(r, this.behaviour.slowMs));
    if (this.behaviour.fail) return this.fail(id, `simulated installation failure (artifact sha256 ${digest})`);
    await installFile(this.options.installDir, `${name}.mender`, download.bytes);
    if (!(await this.gate(id, 'ArtifactReboot_Enter'))) return this.fail(id, 'update control: failed before reboot');
    if (!(await this.report(id, 'rebooting'))) return 'aborted';
    if (!(await this.gate(id, 'ArtifactCommit_Enter'))) return this.fail(id, 'update control: failed before commit');
    if (!(await this.report(id, 'success'))) return 'aborted';
    this.options.control?.clear(id);
    this.artifactName = name;
    await this.sendInventory();
    return 'success';
  }

  /**
   * A control point: the maps decide; a pause is reported as `pause_before_*` and waits, refetching the server's
   * map, until a map lets the update continue (true) or fail (false).
   */
  private async gate(id: string, state: ControlMapState): Promise<boolean> {
    const control = this.options.control;
    if (!control) return true;
    const outcome = await control.waitUntilDecided(state, {
      deploymentId: id,
      onPause: async (status) => {
        await this.report(id, status);
      },
      fetchServerMap: async (deploymentId) => {
        const res = await this.http.json('GET', `${this.options.server}${CONTROL_MAP(deploymentId)}`, this.auth());
        if (res.status === 404) throw new DeploymentGone();
        if (res.status !== 200) throw new Error(`update_control_map: ${res.status}`);
        // Answered as {"update_control_map": {...}}, as mender-client reads it.
        return (JSON.parse(res.text) as { update_control_map?: unknown }).update_control_map;
      },
    });
    return outcome.action === 'continue';
  }

  private async fail(id: string, message: string): Promise<UpdateOutcome> {
    await this.http.json('PUT', `${this.options.server}${LOG(id)}`, this.auth(), {
      messages: [{ timestamp: new Date().toISOString(), level: 'error', message }],
    });
    await this.report(id, 'failure');
    return 'failure';
  }
}
