// A simulated Eclipse Kanto device: its update manager's UpdateManager feature over Hono-style MQTT, message for
// message as ../shared/specs/kanto/examples/ shows it (read from update-manager things/update_manager_feature.go
// and updatem/orchestration). It creates the feature and reports its current state on connect; answers `apply` and
// `refresh` (204, or 400 `messages:parameter.invalid`) with the request's correlation-id; runs a desired state
// through identify, download, update and activate with feedback (IDENTIFYING, IDENTIFIED, RUNNING, then COMPLETED
// or INCOMPLETE); then reports the new current state. A component can be told to fail in one phase.
//
// Topics: `hono` (Flotilla's embedded broker, like Hono's MQTT adapter: `command///req/#`, `e`,
// `command///res/<req-id>/<status>`) or `generic` (a plain broker: tenant and device in every topic).
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import mqtt, { type MqttClient } from 'mqtt';

export type TopicForm = 'hono' | 'generic';
export type Phase = 'download' | 'update' | 'activate';

export interface KeyValue {
  key: string;
  value: string;
}

export interface InstalledComponent {
  /** `<domain>:<id>`, as the update manager names components in feedback and inventory. */
  id: string;
  version: string;
  config: KeyValue[];
}

export interface KantoDeviceOptions {
  url: string;
  /** For an `mqtts://` URL: the certificate (PEM) to trust besides the system's. */
  ca?: string | Buffer;
  username?: string;
  password?: string;
  /** The tenant segment of per-device topics (Flotilla's tenant id). */
  tenantId: string;
  /** Ditto thing id `<namespace>:<name>`, also the Hono device id. */
  thingId: string;
  topics: TopicForm;
  /** The update manager's `domain` property (default `device`). */
  domain?: string;
  /** Domains with an update agent on the device (default: `containers`). */
  agents?: string[];
  /** Make one component fail in one phase (its agent reports *_FAILURE; the whole state ends INCOMPLETE). */
  failComponent?: { id: string; phase: Phase; message?: string };
  /** Send a RUNNING feedback after every phase, as the update manager does when phases outlive its interval. */
  reportEachPhase?: boolean;
  /** Milliseconds each phase takes (default 0). */
  phaseDelayMs?: number;
  /**
   * How command answers travel. `hono` (default): on the response topic, as Hono's MQTT adapter has them. `seed`:
   * on the topic form of the update manager API's examples, `command//<thing>/res//<operation>` (embedded broker).
   * `none`: never, as behind a suite-connector in generic mode, which does not forward them.
   */
  answers?: 'hono' | 'seed' | 'none';
  /** Milliseconds between connecting (feature created, current state reported) and subscribing to commands. */
  subscribeDelayMs?: number;
  /** Phases before which the update manager asks its owner's consent (and waits for it). */
  ownerConsent?: Phase[];
  hardwareNodes?: { id: string; version?: string; name?: string; parameters?: KeyValue[] }[];
  installed?: InstalledComponent[];
  clientId?: string;
}

interface Envelope {
  topic: string;
  headers?: Record<string, unknown>;
  path: string;
  value?: unknown;
  status?: number;
}

interface Action {
  component: { id: string; version: string };
  status: string;
  message?: string;
}

const FEATURE = '/features/UpdateManager';
const DEFINITION = 'com.bosch.iot.suite.edge.update:UpdateManager:1.0.0';
const UM_VERSION = '1.0.0';
const AGENT_VERSION = '0.1.0-M4';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class KantoDeviceSimulator extends EventEmitter {
  private client: MqttClient | undefined;
  private installed: InstalledComponent[];
  private running: Promise<void> = Promise.resolve();
  private lastTimestamp = 0;
  private consentWaiting: { correlationId: string; resolve: (approved: boolean) => void } | undefined;
  /** Every command received, for tests that replay or inspect them. */
  readonly commands: { topic: string; requestId: string; envelope: Envelope }[] = [];
  /** Every answer sent, for tests that replay one. */
  readonly responses: { topic: string; payload: string }[] = [];

  constructor(readonly options: KantoDeviceOptions) {
    super();
    this.installed = [...(options.installed ?? [])];
  }

  get domain(): string {
    return this.options.domain ?? 'device';
  }

  get components(): InstalledComponent[] {
    return [...this.installed];
  }

  private get namespacePath(): string {
    const colon = this.options.thingId.indexOf(':');
    return `${this.options.thingId.slice(0, colon)}/${this.options.thingId.slice(colon + 1)}`;
  }

  private get own(): string {
    return `${this.options.tenantId}/${this.options.thingId}`;
  }

  /** Connects, subscribes to commands, creates the feature and reports the current state. Rejects when refused. */
  async connect(): Promise<void> {
    const client = await mqtt.connectAsync(this.options.url, {
      clientId: this.options.clientId ?? `kanto-sim-${Math.random().toString(16).slice(2, 10)}`,
      username: this.options.username,
      password: this.options.password,
      clean: true,
      reconnectPeriod: 0,
      protocolVersion: 4,
      ...(this.options.ca ? { ca: this.options.ca } : {}),
    });
    this.client = client;
    client.on('message', (topic, payload) => this.onCommand(topic, payload));
    // The update manager subscribes first; a connector in front of it may come up (and subscribe) later.
    if (!this.options.subscribeDelayMs) await this.subscribe();
    await this.publishEvent({
      topic: `${this.namespacePath}/things/twin/commands/modify`,
      headers: { 'response-required': false },
      path: FEATURE,
      value: { definition: [DEFINITION], properties: { domain: this.domain } },
    });
    await this.reportCurrentState('');
    if (this.options.subscribeDelayMs) {
      await sleep(this.options.subscribeDelayMs);
      await this.subscribe();
    }
  }

  private async subscribe(): Promise<void> {
    const filter = this.options.topics === 'hono' ? 'command///req/#' : `command/${this.own}//req/#`;
    const granted = await this.connection().subscribeAsync(filter, { qos: 1 });
    if (granted.some((g) => g.qos === 128)) throw new Error(`subscription to ${filter} refused`);
  }

  get connected(): boolean {
    return this.client?.connected ?? false;
  }

  private eventTopic(): string {
    return this.options.topics === 'hono' ? 'e' : `event/${this.own}`;
  }

  private responseTopic(requestId: string, status: number, operation = ''): string {
    if (this.options.answers === 'seed' && operation) return `command//${this.options.thingId}/res//${operation}`;
    return this.options.topics === 'hono'
      ? `command///res/${requestId}/${status}`
      : `command/${this.own}//res/${requestId}/${status}`;
  }

  /** Publishes a Ditto envelope (or any raw text, for hostile tests) as an event. */
  async publishEvent(message: object | string): Promise<void> {
    const payload = typeof message === 'string' ? message : JSON.stringify(message);
    await this.connection().publishAsync(this.eventTopic(), payload, { qos: 1 });
  }

  /** Publishes an answer on the response topic (raw, for hostile tests). */
  async publishResponse(requestId: string, status: number, message: object | string, operation = ''): Promise<void> {
    const payload = typeof message === 'string' ? message : JSON.stringify(message);
    const topic = this.responseTopic(requestId, status, operation);
    this.responses.push({ topic, payload });
    await this.connection().publishAsync(topic, payload, { qos: 1 });
  }

  /** Publishes on any topic (hostile tests: someone else's topics). */
  async publishRaw(topic: string, payload: string): Promise<void> {
    await this.connection().publishAsync(topic, payload, { qos: 1 });
  }

  private connection(): MqttClient {
    if (!this.client) throw new Error('not connected');
    return this.client;
  }

  /** The current state (softwareNodes, hardwareNodes, associations) as the update manager reports it. */
  currentState() {
    const agents = this.options.agents ?? ['containers'];
    const softwareNodes: object[] = [
      { id: 'device-update-manager', version: UM_VERSION, name: 'Update Manager', type: 'APPLICATION' },
      ...agents.map((domain) => ({
        id: `${domain}-update-agent`,
        version: AGENT_VERSION,
        name: `Eclipse Kanto ${domain} update agent`,
        parameters: [{ key: 'domain', value: domain }],
        type: 'APPLICATION',
      })),
      ...this.installed.map((c) => ({
        id: c.id,
        version: c.version,
        parameters: [...c.config, { key: 'status', value: 'Running' }],
        type: 'CONTAINER',
      })),
    ];
    const associations = [
      ...agents.map((domain) => ({ sourceId: 'device-update-manager', targetId: `${domain}-update-agent` })),
      ...this.installed.map((c) => ({ sourceId: `${c.id.split(':')[0]}-update-agent`, targetId: c.id })),
    ];
    return {
      ...(this.options.hardwareNodes?.length ? { hardwareNodes: this.options.hardwareNodes } : {}),
      softwareNodes,
      associations,
    };
  }

  /** Writes the feature's properties with the current state (a twin modify, no response required). */
  async reportCurrentState(activityId: string): Promise<void> {
    await this.publishEvent({
      topic: `${this.namespacePath}/things/twin/commands/modify`,
      headers: { 'content-type': 'application/json', 'response-required': false },
      path: `${FEATURE}/properties`,
      value: { activityId, timestamp: Date.now(), domain: this.domain, inventory: this.currentState() },
    });
  }

  private onCommand(topic: string, payload: Buffer): void {
    const parts = topic.split('/');
    const req = parts.indexOf('req');
    const requestId = req >= 0 ? (parts[req + 1] ?? '') : '';
    let envelope: Envelope;
    try {
      envelope = JSON.parse(payload.toString('utf8')) as Envelope;
    } catch {
      return; // the update manager drops what it cannot read
    }
    this.commands.push({ topic, requestId, envelope });
    const operation = envelope.path?.startsWith(`${FEATURE}/inbox/messages/`)
      ? envelope.path.slice(`${FEATURE}/inbox/messages/`.length)
      : '';
    this.emit('command', operation, envelope);
    // A device that goes away in the middle of an answer just does not answer (as a real one would).
    const ignoreClosed = (error: unknown) => this.emit('publish-error', error);
    if (operation === 'apply') this.onApply(requestId, envelope).catch(ignoreClosed);
    else if (operation === 'refresh') this.onRefresh(requestId, envelope).catch(ignoreClosed);
    else if (operation === 'consent') this.onConsentAnswer(requestId, envelope).catch(ignoreClosed);
  }

  /** The owner's answer: taken only with the correlation id of the request (as the update manager checks). */
  private async onConsentAnswer(requestId: string, envelope: Envelope): Promise<void> {
    const waiting = this.consentWaiting;
    const value = envelope.value as { ownerConsentFeedback?: { status?: string } } | undefined;
    if (!waiting || envelope.headers?.['correlation-id'] !== waiting.correlationId) {
      return this.answer(requestId, envelope, 'consent', 'correlation id mismatch');
    }
    this.consentWaiting = undefined;
    await this.answer(requestId, envelope, 'consent');
    waiting.resolve(value?.ownerConsentFeedback?.status === 'APPROVED');
  }

  /** Asks the owner's consent before `command` and waits for the answer; true when approved. */
  private async askConsent(activityId: string, command: string): Promise<boolean> {
    const correlationId = randomUUID();
    const answered = new Promise<boolean>((resolve) => {
      this.consentWaiting = { correlationId, resolve };
    });
    await this.publishEvent({
      topic: `${this.namespacePath}/things/live/messages/consent`,
      headers: { 'content-type': 'application/json', 'correlation-id': correlationId, 'response-required': true },
      path: `${FEATURE}/outbox/messages/consent`,
      value: { activityId, timestamp: this.timestamp(), ownerConsent: { command } },
    });
    this.emit('consent', activityId, command);
    return answered;
  }

  private async answer(requestId: string, request: Envelope, operation: string, error?: string): Promise<void> {
    const correlationId = request.headers?.['correlation-id'];
    // An absent response-required means true; without a correlation-id nothing can be matched, so nothing is sent.
    if (request.headers?.['response-required'] === false || typeof correlationId !== 'string') return;
    if (this.options.answers === 'none') return;
    const base = { topic: request.topic, path: `${FEATURE}/outbox/messages/${operation}` };
    if (!error) {
      await this.publishResponse(
        requestId,
        204,
        { ...base, headers: { 'correlation-id': correlationId, 'response-required': false }, status: 204 },
        operation,
      );
      return;
    }
    await this.publishResponse(
      requestId,
      400,
      {
        ...base,
        headers: { 'content-type': 'application/json', 'correlation-id': correlationId, 'response-required': false },
        value: { error: 'messages:parameter.invalid', status: 400, message: error },
        status: 400,
      },
      operation,
    );
  }

  private readValue(envelope: Envelope): { activityId: string; timestamp?: number; desiredState?: unknown } | string {
    const value = envelope.value as Record<string, unknown> | undefined;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'message value is missing';
    if (value.activityId !== undefined && typeof value.activityId !== 'string') return 'activityId must be a string';
    if (value.timestamp !== undefined && typeof value.timestamp !== 'number') return 'timestamp must be a number';
    return {
      activityId: (value.activityId as string | undefined) ?? '',
      timestamp: value.timestamp as number | undefined,
      desiredState: value.desiredState,
    };
  }

  private async onRefresh(requestId: string, envelope: Envelope): Promise<void> {
    const value = this.readValue(envelope);
    if (typeof value === 'string') return this.answer(requestId, envelope, 'refresh', value);
    await this.answer(requestId, envelope, 'refresh');
    await this.reportCurrentState(value.activityId);
  }

  private async onApply(requestId: string, envelope: Envelope): Promise<void> {
    const value = this.readValue(envelope);
    if (typeof value === 'string') return this.answer(requestId, envelope, 'apply', value);
    const state = value.desiredState as { domains?: unknown } | undefined;
    if (typeof state !== 'object' || state === null || Array.isArray(state)) {
      return this.answer(requestId, envelope, 'apply', 'desired state is missing');
    }
    await this.answer(requestId, envelope, 'apply');
    // One desired state at a time, as the update manager's orchestrator runs them.
    this.running = this.running.then(() => this.orchestrate(value.activityId, state)).catch(() => undefined);
  }

  private async feedback(activityId: string, status: string, actions?: Action[], message?: string): Promise<void> {
    await this.publishEvent({
      topic: `${this.namespacePath}/things/live/messages/feedback`,
      headers: { 'content-type': 'application/json', 'response-required': false },
      path: `${FEATURE}/outbox/messages/feedback`,
      value: {
        activityId,
        timestamp: this.timestamp(),
        desiredStateFeedback: {
          status,
          ...(message ? { message } : {}),
          ...(actions?.length ? { actions: actions.map((a) => ({ ...a, component: { ...a.component } })) } : {}),
        },
      },
    });
  }

  /** ms since the epoch, strictly increasing across this device's messages. */
  private timestamp(): number {
    this.lastTimestamp = Math.max(Date.now(), this.lastTimestamp + 1);
    return this.lastTimestamp;
  }

  private desiredComponents(state: { domains?: unknown }): InstalledComponent[] | undefined {
    const agents = new Set(this.options.agents ?? ['containers']);
    const domains = Array.isArray(state.domains) ? (state.domains as Record<string, unknown>[]) : [];
    const supported = domains.filter((d) => typeof d?.id === 'string' && agents.has(d.id as string));
    if (supported.length === 0) return undefined;
    return supported.flatMap((d) =>
      (Array.isArray(d.components) ? (d.components as Record<string, unknown>[]) : []).map((c) => ({
        id: `${d.id}:${c.id}`,
        version: String(c.version ?? ''),
        config: Array.isArray(c.config) ? (c.config as KeyValue[]) : [],
      })),
    );
  }

  private async orchestrate(activityId: string, state: { domains?: unknown }): Promise<void> {
    await this.feedback(activityId, 'IDENTIFYING');
    const desired = this.desiredComponents(state);
    if (!desired) {
      // What the update manager answers for a state none of its agents handles (examples/feedback-incomplete-*).
      await this.feedback(
        '',
        'INCOMPLETE',
        undefined,
        'the desired state manifest does not contain any supported domain',
      );
      this.emit('finished', activityId, 'INCOMPLETE');
      return;
    }
    const installs = desired.filter((c) => !this.installed.some((i) => i.id === c.id && i.version === c.version));
    const removals = this.installed.filter((i) => !desired.some((c) => c.id === i.id));
    const actions: Action[] = [
      ...installs.map((c) => ({
        component: { id: c.id, version: c.version },
        status: 'IDENTIFIED',
        message: 'New container will be created and started.',
      })),
      ...removals.map((c) => ({
        component: { id: c.id, version: c.version },
        status: 'IDENTIFIED',
        message: 'Container will be removed.',
      })),
    ];
    await this.feedback(activityId, 'IDENTIFIED', actions);
    if (actions.length === 0) {
      await this.feedback(activityId, 'COMPLETED');
      await this.reportCurrentState(activityId);
      this.emit('finished', activityId, 'COMPLETED');
      return;
    }
    await this.feedback(activityId, 'RUNNING', actions);
    const fail = this.options.failComponent;
    const phases: [Phase, string, string, string][] = [
      ['download', 'DOWNLOADING', 'DOWNLOAD_SUCCESS', 'DOWNLOAD_FAILURE'],
      ['update', 'UPDATING', 'UPDATE_SUCCESS', 'UPDATE_FAILURE'],
      // The update manager shows activation to the cloud as UPDATING / UPDATE_* (its feedback mapping).
      ['activate', 'UPDATING', 'UPDATE_SUCCESS', 'UPDATE_FAILURE'],
    ];
    for (const [phase, busy, success, failure] of phases) {
      if (this.options.ownerConsent?.includes(phase)) {
        const command = phase === 'download' ? 'DOWNLOAD' : phase === 'update' ? 'UPDATE' : 'ACTIVATE';
        if (!(await this.askConsent(activityId, command))) {
          // Denied: the update manager rolls the agents back; nothing of the desired state was applied.
          for (const action of actions) action.status = 'UPDATE_FAILURE';
          await this.feedback(activityId, 'INCOMPLETE', actions, `the owner denied the update before ${command}`);
          await this.reportCurrentState(activityId);
          this.emit('finished', activityId, 'INCOMPLETE');
          return;
        }
      }
      for (const action of actions) {
        const removal = removals.some((r) => r.id === action.component.id);
        action.status = removal ? (phase === 'update' ? 'REMOVING' : action.status) : busy;
      }
      if (this.options.phaseDelayMs) await sleep(this.options.phaseDelayMs);
      let failed = false;
      for (const action of actions) {
        const removal = removals.some((r) => r.id === action.component.id);
        if (fail && fail.phase === phase && fail.id === action.component.id) {
          action.status = failure;
          action.message = fail.message ?? `simulated ${phase} failure of ${action.component.id}`;
          failed = true;
        } else if (removal) {
          if (phase === 'update') {
            action.status = 'REMOVAL_SUCCESS';
            action.message = 'Container removed.';
          }
        } else {
          action.status = success;
          action.message = phase === 'download' ? 'New container created.' : 'New container instance is started.';
        }
      }
      if (failed) {
        const command = phase === 'download' ? 'UPDATE' : phase === 'update' ? 'ACTIVATE' : 'CLEANUP';
        await this.feedback(
          activityId,
          'INCOMPLETE',
          actions,
          `failed to wait for command '${command}' signal: the update process is incompleted`,
        );
        await this.reportCurrentState(activityId);
        this.emit('finished', activityId, 'INCOMPLETE');
        return;
      }
      if (this.options.reportEachPhase ?? true) await this.feedback(activityId, 'RUNNING', actions);
    }
    this.installed = desired;
    await this.feedback(activityId, 'COMPLETED', actions);
    await this.reportCurrentState(activityId);
    this.emit('finished', activityId, 'COMPLETED');
  }

  /** Resolves when every desired state received so far has been worked through. */
  async idle(): Promise<void> {
    await this.running;
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await client.endAsync(true).catch(() => undefined);
  }
}
