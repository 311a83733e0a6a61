// Ditto protocol envelopes of the UpdateManager feature, as pure functions: what the cloud sends (apply, refresh)
// and what a device's message means (feature created, properties with the current state, feedback, a command
// response, an owner consent request). Shapes from ../shared/specs/kanto/examples/ (read from the update manager's
// things/update_manager_feature.go); anything else is malformed and refused with the reason.
import type { DesiredState } from '../../artifacts/desired-state.js';

export const FEATURE = 'UpdateManager';
export const FEATURE_DEFINITION = 'com.bosch.iot.suite.edge.update:UpdateManager:1.0.0';

export interface DittoEnvelope {
  topic: string;
  headers?: Record<string, unknown>;
  path: string;
  value?: unknown;
  status?: number;
}

/** What a device's message is, once read. */
export type DeviceMessage =
  | { kind: 'feature'; thingId: string; properties: FeatureProperties }
  | { kind: 'properties'; thingId: string; properties: FeatureProperties }
  | { kind: 'feedback'; thingId: string; activityId: string; timestamp: number; feedback: Feedback }
  | { kind: 'response'; thingId: string; operation: string; correlationId: string; status: number; error?: string }
  | { kind: 'consent'; thingId: string; activityId: string; command: string; correlationId: string }
  /** A message about another feature of the thing (a full Kanto device has several): not Flotilla's business. */
  | { kind: 'other-feature'; thingId: string; feature: string };

export interface FeatureProperties {
  domain?: string;
  activityId?: string;
  timestamp?: number;
  inventory?: CurrentState;
}

export interface FeedbackAction {
  component: { id: string; version: string };
  status: string;
  progress?: number;
  message?: string;
}

export interface Feedback {
  status: string;
  baseline?: string;
  message?: string;
  actions: FeedbackAction[];
}

export interface InventoryNode {
  id: string;
  version?: string;
  name?: string;
  parameters?: { key: string; value: string }[];
  type?: string;
  addressable?: boolean;
}

export interface CurrentState {
  hardwareNodes: InventoryNode[];
  softwareNodes: InventoryNode[];
  associations: { sourceId: string; targetId: string }[];
}

export class MalformedMessage extends Error {}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function fail(reason: string): never {
  throw new MalformedMessage(reason);
}

/** `<namespace>:<name>` from a Ditto topic `<namespace>/<name>/things/...`. */
export function thingIdOfTopic(topic: string): string | undefined {
  const parts = topic.split('/');
  if (parts.length < 5 || !parts[0] || !parts[1] || parts[2] !== 'things') return undefined;
  return `${parts[0]}:${parts[1]}`;
}

/** The Ditto topic prefix of a thing id `<namespace>:<name>` (the name may contain more colons). */
export function topicPrefixOf(thingId: string): string {
  const colon = thingId.indexOf(':');
  return `${thingId.slice(0, colon)}/${thingId.slice(colon + 1)}`;
}

/** A thing id Ditto accepts and a topic level can carry: `<namespace>:<name>`, no slashes or wildcards. */
export function isThingId(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length <= 256 &&
    /^[A-Za-z0-9_.-]*:[^/+#\s]+$/.test(value) &&
    !value.includes('\u0000') &&
    !value.startsWith(':')
  );
}

/** Reads a Ditto envelope from an MQTT payload; throws MalformedMessage with the reason. */
export function parseEnvelope(payload: Buffer): DittoEnvelope {
  let data: unknown;
  try {
    data = JSON.parse(payload.toString('utf8'));
  } catch {
    fail('payload is not JSON');
  }
  if (!isObject(data)) fail('envelope must be a JSON object');
  if (typeof data.topic !== 'string' || !thingIdOfTopic(data.topic)) fail('envelope topic must be a Ditto topic');
  if (typeof data.path !== 'string' || !data.path.startsWith('/')) fail('envelope path must be a path');
  if (data.headers !== undefined && !isObject(data.headers)) fail('envelope headers must be an object');
  if (data.status !== undefined && (!Number.isInteger(data.status) || (data.status as number) < 100)) {
    fail('envelope status must be an HTTP status');
  }
  return data as unknown as DittoEnvelope;
}

function optionalString(value: unknown, where: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') fail(`${where} must be a string`);
  return value;
}

function timestampOf(value: unknown, where: string): number {
  if (!Number.isInteger(value) || (value as number) < 0) fail(`${where} must be ms since the epoch (an integer)`);
  return value as number;
}

function nodesOf(value: unknown, where: string): InventoryNode[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) fail(`${where} must be a list`);
  return value.map((node, i) => {
    if (!isObject(node) || typeof node.id !== 'string' || !node.id) fail(`${where}[${i}] must have an id`);
    const parameters = node.parameters ?? [];
    if (!Array.isArray(parameters) || !parameters.every((p) => isObject(p) && typeof p.key === 'string')) {
      fail(`${where}[${i}].parameters must be a list of {key, value}`);
    }
    return {
      id: node.id,
      version: optionalString(node.version, `${where}[${i}].version`),
      name: optionalString(node.name, `${where}[${i}].name`),
      type: optionalString(node.type, `${where}[${i}].type`),
      parameters: (parameters as Json[]).map((p) => ({ key: p.key as string, value: String(p.value ?? '') })),
    };
  });
}

export function parseCurrentState(value: unknown): CurrentState {
  if (!isObject(value)) fail('inventory must be an object');
  const associations = value.associations ?? [];
  if (!Array.isArray(associations)) fail('inventory.associations must be a list');
  return {
    hardwareNodes: nodesOf(value.hardwareNodes, 'inventory.hardwareNodes'),
    softwareNodes: nodesOf(value.softwareNodes, 'inventory.softwareNodes'),
    associations: associations.map((a, i) => {
      if (!isObject(a) || typeof a.sourceId !== 'string' || typeof a.targetId !== 'string') {
        fail(`inventory.associations[${i}] must have sourceId and targetId`);
      }
      return { sourceId: a.sourceId, targetId: a.targetId };
    }),
  };
}

function propertiesOf(value: unknown): FeatureProperties {
  if (!isObject(value)) fail('feature properties must be an object');
  const properties: FeatureProperties = {};
  const domain = optionalString(value.domain, 'domain');
  if (domain !== undefined) properties.domain = domain;
  const activityId = optionalString(value.activityId, 'activityId');
  if (activityId !== undefined) properties.activityId = activityId;
  if (value.timestamp !== undefined) properties.timestamp = timestampOf(value.timestamp, 'timestamp');
  if (value.inventory !== undefined) properties.inventory = parseCurrentState(value.inventory);
  return properties;
}

export function parseFeedback(value: unknown): Feedback {
  if (!isObject(value)) fail('desiredStateFeedback must be an object');
  if (typeof value.status !== 'string' || !value.status) fail('desiredStateFeedback.status is missing');
  const actions = value.actions ?? [];
  if (!Array.isArray(actions)) fail('desiredStateFeedback.actions must be a list');
  return {
    status: value.status,
    baseline: optionalString(value.baseline, 'desiredStateFeedback.baseline'),
    message: optionalString(value.message, 'desiredStateFeedback.message'),
    actions: actions.map((a, i) => {
      const at = `desiredStateFeedback.actions[${i}]`;
      if (!isObject(a) || !isObject(a.component) || typeof a.component.id !== 'string') {
        fail(`${at}.component must have an id`);
      }
      if (typeof a.status !== 'string' || !a.status) fail(`${at}.status is missing`);
      if (a.progress !== undefined && (!Number.isInteger(a.progress) || (a.progress as number) < 0)) {
        fail(`${at}.progress must be a whole number`);
      }
      return {
        component: { id: a.component.id, version: String(a.component.version ?? '') },
        status: a.status,
        ...(a.progress !== undefined ? { progress: a.progress as number } : {}),
        ...(typeof a.message === 'string' ? { message: a.message } : {}),
      };
    }),
  };
}

const FEATURE_PATH = `/features/${FEATURE}`;

/** What a device's envelope means. Throws MalformedMessage when it is not an UpdateManager message we know. */
export function readDeviceMessage(envelope: DittoEnvelope): DeviceMessage {
  const thingId = thingIdOfTopic(envelope.topic) as string;
  const parts = envelope.topic.split('/');
  const channel = `${parts[3]}/${parts[4]}`;
  const action = parts.slice(5).join('/');
  const { path } = envelope;
  const feature = /^\/features\/([^/]+)/.exec(path)?.[1];
  if (feature && feature !== FEATURE && (channel === 'twin/commands' || channel === 'live/messages')) {
    return { kind: 'other-feature', thingId, feature };
  }
  if (channel === 'twin/commands' && (action === 'modify' || action === 'merge' || action === 'create')) {
    if (path === FEATURE_PATH) {
      if (!isObject(envelope.value)) fail('feature value must be an object');
      return { kind: 'feature', thingId, properties: propertiesOf(envelope.value.properties ?? {}) };
    }
    if (path === `${FEATURE_PATH}/properties`) {
      return { kind: 'properties', thingId, properties: propertiesOf(envelope.value) };
    }
    const property = path.startsWith(`${FEATURE_PATH}/properties/`) ? path.slice(FEATURE_PATH.length + 12) : '';
    if (property && !property.includes('/')) {
      return { kind: 'properties', thingId, properties: propertiesOf({ [property]: envelope.value }) };
    }
    fail(`unknown twin path ${path}`);
  }
  if (channel !== 'live/messages') fail(`unknown Ditto channel ${channel}`);
  const outbox = `${FEATURE_PATH}/outbox/messages/`;
  if (!path.startsWith(outbox)) fail(`unknown message path ${path}`);
  const operation = path.slice(outbox.length);
  if (operation !== action) fail(`path ${path} does not match topic ${envelope.topic}`);
  if (envelope.status !== undefined) {
    const correlationId = envelope.headers?.['correlation-id'];
    if (typeof correlationId !== 'string' || !correlationId) fail('a response needs a correlation-id header');
    const body = isObject(envelope.value) ? envelope.value : undefined;
    const error = body ? [body.error, body.message].filter((x) => typeof x === 'string').join(': ') : undefined;
    return { kind: 'response', thingId, operation, correlationId, status: envelope.status, error: error || undefined };
  }
  if (!isObject(envelope.value)) fail(`${operation} value must be an object`);
  const value = envelope.value;
  if (operation === 'feedback') {
    if (typeof value.activityId !== 'string') fail('feedback activityId must be a string');
    return {
      kind: 'feedback',
      thingId,
      activityId: value.activityId,
      timestamp: timestampOf(value.timestamp, 'feedback timestamp'),
      feedback: parseFeedback(value.desiredStateFeedback),
    };
  }
  if (operation === 'consent') {
    if (typeof value.activityId !== 'string') fail('consent activityId must be a string');
    const consent = value.ownerConsent;
    if (!isObject(consent) || typeof consent.command !== 'string') fail('ownerConsent.command is missing');
    const correlationId = envelope.headers?.['correlation-id'];
    if (typeof correlationId !== 'string' || !correlationId) fail('a consent request needs a correlation-id header');
    return { kind: 'consent', thingId, activityId: value.activityId, command: consent.command, correlationId };
  }
  fail(`unknown outbox message ${operation}`);
}

/** The live message the cloud sends to the feature's inbox (apply, refresh), response required. */
export function commandEnvelope(
  thingId: string,
  operation: 'apply' | 'refresh',
  correlationId: string,
  value: { activityId: string; timestamp: number; desiredState?: DesiredState },
): DittoEnvelope {
  return {
    topic: `${topicPrefixOf(thingId)}/things/live/messages/${operation}`,
    headers: { 'content-type': 'application/json', 'correlation-id': correlationId, 'response-required': true },
    path: `${FEATURE_PATH}/inbox/messages/${operation}`,
    value,
  };
}

/**
 * The owner's answer to a consent request: an inbox `consent` message carrying the request's correlation id (the
 * update manager refuses any other), as examples/consent-feedback.command.json shows it; the update manager
 * answers it with 204.
 */
export function consentAnswerEnvelope(
  thingId: string,
  correlationId: string,
  value: { activityId: string; timestamp: number; ownerConsentFeedback: { status: 'APPROVED' | 'DENIED' } },
): DittoEnvelope {
  return {
    topic: `${topicPrefixOf(thingId)}/things/live/messages/consent`,
    headers: { 'content-type': 'application/json', 'correlation-id': correlationId, 'response-required': true },
    path: `${FEATURE_PATH}/inbox/messages/consent`,
    value,
  };
}
