// A hawkBit DDI device as SWUpdate's suricatta talks to the server: polls its controller resource with its target
// token, follows `deploymentBase`, downloads every chunk artifact and checks its SHA-256 against the hashes the
// server gave, and sends feedback (proceeding, then closed with success or failure) — or acknowledges a
// `cancelAction`. The installer is a no-op (simulation).
import { createHash } from 'node:crypto';
import { type AgentOptions, type Behaviour, type HttpCounter, installFile, type UpdateOutcome } from './common.js';

export interface DdiAgentOptions extends AgentOptions {
  /** The tenant segment of the DDI path (`DEFAULT` for Flotilla's default tenant). */
  tenant: string;
  controllerId: string;
  targetToken: string;
}

interface Link {
  href: string;
}

interface DeploymentBase {
  id: string;
  deployment: {
    chunks: {
      version: string;
      artifacts: { filename: string; size: number; hashes: { sha256: string }; _links: { 'download-http': Link } }[];
    }[];
  };
}

export class DdiAgent {
  readonly protocol = 'ddi';
  artifactName: string;

  constructor(
    readonly options: DdiAgentOptions,
    private readonly http: HttpCounter,
    readonly behaviour: Behaviour = {},
  ) {
    this.artifactName = options.artifactName;
  }

  private get base(): string {
    return `${this.options.server}/${encodeURIComponent(this.options.tenant)}/controller/v1/${encodeURIComponent(this.options.controllerId)}`;
  }

  private auth() {
    return { authorization: `TargetToken ${this.options.targetToken}`, accept: 'application/hal+json' };
  }

  private feedback(
    kind: 'deploymentBase' | 'cancelAction',
    id: string,
    execution: string,
    finished: string,
    detail: string,
  ) {
    return this.http.json('POST', `${this.base}/${kind}/${id}/feedback`, this.auth(), {
      id,
      status: { execution, result: { finished }, details: [detail] },
    });
  }

  async poll(): Promise<UpdateOutcome | undefined> {
    const res = await this.http.json('GET', this.base, this.auth());
    if (res.status !== 200) return undefined;
    const links = (JSON.parse(res.text) as { _links?: Record<string, Link> })._links ?? {};
    if (links.cancelAction) {
      const id = links.cancelAction.href.split('/').pop()?.split('?')[0] ?? '';
      await this.feedback('cancelAction', id, 'closed', 'success', 'canceled by the simulator');
      return 'aborted';
    }
    if (!links.deploymentBase) return undefined;
    const got = await this.http.json('GET', links.deploymentBase.href, this.auth());
    if (got.status !== 200) return undefined;
    return this.install(JSON.parse(got.text) as DeploymentBase);
  }

  private async install(action: DeploymentBase): Promise<UpdateOutcome> {
    await this.feedback('deploymentBase', action.id, 'proceeding', 'none', 'downloading');
    for (const chunk of action.deployment.chunks) {
      for (const artifact of chunk.artifacts) {
        const file = await this.http.request('GET', artifact._links['download-http'].href, { headers: this.auth() });
        const sha256 = createHash('sha256').update(file.bytes).digest('hex');
        if (file.status !== 200 || sha256 !== artifact.hashes.sha256) {
          await this.feedback(
            'deploymentBase',
            action.id,
            'closed',
            'failure',
            `hash mismatch for ${artifact.filename}`,
          );
          return 'failure';
        }
        if (!this.behaviour.fail) await installFile(this.options.installDir, artifact.filename, file.bytes);
      }
    }
    if (this.behaviour.slowMs) await new Promise((r) => setTimeout(r, this.behaviour.slowMs));
    if (this.behaviour.fail) {
      await this.feedback('deploymentBase', action.id, 'closed', 'failure', 'simulated installation failure');
      return 'failure';
    }
    const res = await this.feedback('deploymentBase', action.id, 'closed', 'success', 'installed');
    if (res.status !== 200) return 'aborted';
    this.artifactName = action.deployment.chunks[0]?.version ?? this.artifactName;
    return 'success';
  }
}
