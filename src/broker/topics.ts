// Hono MQTT topic rules, as pure functions. Above the broker everything speaks the per-device ("generic") forms,
// which carry tenant and device, because a plain broker cannot route Hono's device-less forms to one device:
//   cloud → device   command/<tenant>/<device>//req/<req-id>/<subject>
//   device → cloud   command/<tenant>/<device>//res/<req-id>/<status>, event/<tenant>/<device>, telemetry/<tenant>/<device>
// The embedded broker knows which connection is which device, so its devices may also use Hono's own short forms
// (`e`, `command///req/#`, `command///res/<req-id>/<status>`); it rewrites them to and from the per-device forms.

/** A device as the topics name it: the Flotilla tenant id and the Hono device id (the Ditto thing id). */
export interface DeviceRef {
  tenantId: string;
  deviceId: string;
}

/** How a device subscribed to its commands: Hono's device-less form or the per-device one. */
export type CommandForm = 'hono' | 'generic';

/** What a per-device topic carries, seen from the cloud side. */
export type CloudTopic =
  | { kind: 'event'; ref: DeviceRef }
  | { kind: 'telemetry'; ref: DeviceRef }
  /** `status` is undefined where the topic names the operation instead (the envelope's status counts). */
  | { kind: 'response'; ref: DeviceRef; requestId: string; status: number | undefined };

/** A tenant or device segment: one topic level, no wildcards. */
export function isSegment(value: string): boolean {
  return value.length > 0 && value.length <= 256 && !/[/+#]/.test(value) && !value.includes('\u0000');
}

export function commandTopic(ref: DeviceRef, requestId: string, subject: string): string {
  return `command/${ref.tenantId}/${ref.deviceId}//req/${requestId}/${subject}`;
}

/** The filter that carries a device's commands in the per-device form (what a device's subscription becomes). */
export function commandFilter(ref: DeviceRef): string {
  return `command/${ref.tenantId}/${ref.deviceId}//req/#`;
}

export function responseTopic(ref: DeviceRef, requestId: string, status: number | string): string {
  return `command/${ref.tenantId}/${ref.deviceId}//res/${requestId}/${status}`;
}

export function eventTopic(ref: DeviceRef): string {
  return `event/${ref.tenantId}/${ref.deviceId}`;
}

/** Filters the cloud side subscribes to (events with or without the generic form's trailing slash, responses). */
export const CLOUD_FILTERS = ['event/+/+', 'event/+/+/', 'command/+/+/+/res/#'] as const;

/** Reads a per-device topic; undefined for anything else. */
export function parseCloudTopic(topic: string): CloudTopic | undefined {
  const parts = topic.split('/');
  const [kind, tenantId, deviceId] = parts;
  if (!isSegment(tenantId ?? '') || !isSegment(deviceId ?? '')) return undefined;
  const ref = { tenantId, deviceId };
  const tail = parts.slice(3);
  const plain = tail.length === 0 || (tail.length === 1 && tail[0] === '');
  if (kind === 'event' && plain) return { kind: 'event', ref };
  if (kind === 'telemetry' && plain) return { kind: 'telemetry', ref };
  if (kind === 'command' && tail.length === 4 && tail[0] === '' && tail[1] === 'res') {
    // Hono puts the request id and the status in the topic; the examples of Kanto's update manager API answer on
    // `command//<device>/res//apply` (no request id, the operation where the status goes). The Ditto envelope
    // carries the correlation id and the status either way, so both forms are answers.
    const [, , requestId, status] = tail;
    if (!status || !isSegment(status) || requestId.length > 256) return undefined;
    return { kind: 'response', ref, requestId, status: /^[1-5][0-9][0-9]$/.test(status) ? Number(status) : undefined };
  }
  return undefined;
}

/**
 * An embedded-broker device publishes: its topic in the per-device form for its own tenant and device, or
 * undefined when the device may not publish there (another device's topic, commands, anything else).
 */
export function devicePublishTopic(topic: string, ref: DeviceRef): string | undefined {
  const own = `${ref.tenantId}/${ref.deviceId}`;
  for (const [short, long] of [
    ['e', 'event'],
    ['event', 'event'],
    ['t', 'telemetry'],
    ['telemetry', 'telemetry'],
  ] as const) {
    if (topic === short || topic === `${short}/` || topic === `${short}//`) return `${long}/${own}`;
    if (topic === `${short}/${own}` || topic === `${short}/${own}/`) return `${long}/${own}`;
  }
  // Hono's `command///res/<req-id>/<status>`, with the device (and tenant) named or not, and the update manager
  // examples' `command//<device>/res//<operation>`.
  const response = /^command\/([^/]*)\/([^/]*)\/\/?res\/([^/]*)\/([^/]+)$/.exec(topic);
  if (response) {
    const [, tenant, device, requestId, status] = response;
    const deviceOk = device === '' || device === ref.deviceId;
    const tenantOk = tenant === '' || (tenant === ref.tenantId && device === ref.deviceId);
    if (deviceOk && tenantOk && isSegment(status)) return responseTopic(ref, requestId, status);
  }
  return undefined;
}

/** An embedded-broker device subscribes: the per-device filter it really gets, and its form; undefined refuses. */
export function deviceSubscription(filter: string, ref: DeviceRef): { filter: string; form: CommandForm } | undefined {
  const own = commandFilter(ref);
  if (filter === 'command///req/#' || filter === 'command//+/req/#' || filter === `command//${ref.deviceId}/req/#`) {
    return { filter: own, form: 'hono' };
  }
  if (filter === own) return { filter: own, form: 'generic' };
  return undefined;
}

/** A command on its way to an embedded-broker device: the topic that device expects, or undefined if not its own. */
export function forwardedCommandTopic(topic: string, ref: DeviceRef, form: CommandForm): string | undefined {
  const prefix = `command/${ref.tenantId}/${ref.deviceId}//req/`;
  if (!topic.startsWith(prefix)) return undefined;
  return form === 'hono' ? `command///req/${topic.slice(prefix.length)}` : topic;
}
