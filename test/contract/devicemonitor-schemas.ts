// JSON Schemas of Mender devicemonitor's wire shapes, transcribed by hand from @northern.tech/types 0.5.0
// (dist/types.gen.d.ts: Alert, AlertSubject, AlertDetails, LineDescriptor, MonitorConfiguration with its
// LogSubsystem / ServiceSubsystem / DBusSubsystem, MonitorDevice, Error) and seed 001 ("Device monitor": the
// required fields, the OK/CRITICAL enum). No public OpenAPI document has them; closed objects catch extra fields.

const line = {
  type: 'object',
  required: ['line_number', 'data'],
  properties: { line_number: { type: 'integer' }, data: { type: 'string' } },
  additionalProperties: false,
};

export const alertSchema = {
  type: 'object',
  required: ['name', 'level', 'subject', 'timestamp'],
  properties: {
    name: { type: 'string' },
    level: { enum: ['OK', 'CRITICAL'] },
    timestamp: { type: 'string', format: 'date-time' },
    subject: {
      type: 'object',
      required: ['name', 'type', 'status'],
      properties: {
        name: { type: 'string' },
        type: { type: 'string' },
        status: { type: 'string' },
        details: {
          type: 'object',
          properties: {
            description: { type: 'string' },
            lines_before: { type: 'array', items: line },
            lines_after: { type: 'array', items: line },
            line_matching: line,
          },
          additionalProperties: false,
        },
      },
      additionalProperties: false,
    },
  },
  additionalProperties: false,
};

export const alertListSchema = { type: 'array', items: alertSchema };

export const monitorConfigurationListSchema = {
  type: 'array',
  items: {
    type: 'object',
    required: ['name', 'status', 'type'],
    properties: {
      name: { type: 'string' },
      status: { type: 'string' },
      type: { enum: ['log', 'service', 'dbus'] },
      log: {
        type: 'object',
        required: ['pattern', 'path'],
        properties: { pattern: { type: 'string' }, path: { type: 'string' }, expire_seconds: { type: 'integer' } },
        additionalProperties: false,
      },
      service: {
        type: 'object',
        required: ['name', 'type'],
        properties: { name: { type: 'string' }, type: { type: 'string' } },
        additionalProperties: false,
      },
      dbus: {
        type: 'object',
        required: ['name', 'pattern', 'watch'],
        properties: {
          name: { type: 'string' },
          pattern: { type: 'string' },
          watch: { type: 'string' },
          alert_expiration: { type: 'integer' },
        },
        additionalProperties: false,
      },
    },
    additionalProperties: false,
  },
};

export const monitorDeviceListSchema = {
  type: 'array',
  items: {
    type: 'object',
    required: ['id', 'alerts_open_count', 'alerts_total_count', 'alerts'],
    properties: {
      id: { type: 'string' },
      alerts_open_count: { type: 'integer', minimum: 0 },
      alerts_total_count: { type: 'integer', minimum: 0 },
      alerts: alertListSchema,
    },
    additionalProperties: false,
  },
};

export const errorSchema = {
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'string' }, request_id: { type: 'string' } },
  additionalProperties: false,
};
