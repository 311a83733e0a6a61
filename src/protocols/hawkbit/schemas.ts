// The DDI wire shapes as TypeBox schemas, after the DDI OpenAPI document (../shared/specs/hawkbit/ddi-openapi.json):
// response schemas serialize the answers and, with the request bodies, make the served OpenAPI document describe the
// DDI routes. Request bodies are documented only: ddi.ts checks them after authentication, with hawkBit's texts.
import { Type } from '@sinclair/typebox';

const Link = Type.Object({ href: Type.String() });
const Links = Type.Record(Type.String(), Link, { description: 'hawkBit HAL links by relation' });
const Handling = Type.Union([Type.Literal('skip'), Type.Literal('attempt'), Type.Literal('forced')]);

export const ExceptionInfo = Type.Object(
  { exceptionClass: Type.String(), errorCode: Type.String(), message: Type.String() },
  { description: "hawkBit's error body (a failed authentication is a bare 401)" },
);

export const ControllerBase = Type.Object({
  config: Type.Object({
    polling: Type.Object({ sleep: Type.String({ description: 'HH:MM:SS', pattern: '^\\d{2}:\\d{2}:\\d{2}$' }) }),
  }),
  _links: Links,
});

export const Artifact = Type.Object({
  filename: Type.String(),
  hashes: Type.Object({ sha1: Type.String(), md5: Type.String(), sha256: Type.String() }),
  size: Type.Integer(),
  _links: Links,
});

const Chunk = Type.Object({
  part: Type.String(),
  version: Type.String(),
  name: Type.String(),
  artifacts: Type.Array(Artifact),
});

const Deployment = Type.Object({
  download: Handling,
  update: Handling,
  maintenanceWindow: Type.Optional(Type.Union([Type.Literal('available'), Type.Literal('unavailable')])),
  chunks: Type.Array(Chunk),
});

const ActionHistory = Type.Object({
  status: Type.String(),
  messages: Type.Array(Type.String(), { description: 'the action log, newest first' }),
});

export const DeploymentBase = Type.Object({
  id: Type.String(),
  deployment: Deployment,
  actionHistory: Type.Optional(ActionHistory),
});

export const ConfirmationBaseAction = Type.Object({
  id: Type.String(),
  confirmation: Deployment,
  actionHistory: Type.Optional(ActionHistory),
});

export const ConfirmationBase = Type.Object({
  autoConfirm: Type.Object({
    active: Type.Boolean(),
    initiator: Type.Optional(Type.String()),
    remark: Type.Optional(Type.String()),
    activatedAt: Type.Optional(Type.Integer({ description: 'unix time in milliseconds' })),
  }),
  _links: Links,
});

export const Cancel = Type.Object({ id: Type.String(), cancelAction: Type.Object({ stopId: Type.String() }) });

export const ActionFeedback = Type.Object({
  id: Type.Optional(Type.Union([Type.String(), Type.Integer()])),
  time: Type.Optional(Type.String()),
  status: Type.Object({
    execution: Type.Union(
      ['closed', 'proceeding', 'canceled', 'scheduled', 'rejected', 'resumed', 'downloaded', 'download'].map((e) =>
        Type.Literal(e),
      ),
    ),
    result: Type.Object({
      finished: Type.Union([Type.Literal('success'), Type.Literal('failure'), Type.Literal('none')]),
      progress: Type.Optional(Type.Object({ cnt: Type.Integer(), of: Type.Optional(Type.Integer()) })),
    }),
    details: Type.Optional(Type.Array(Type.String())),
  }),
});

export const ConfigData = Type.Object({
  data: Type.Record(Type.String(), Type.String()),
  mode: Type.Optional(Type.Union([Type.Literal('merge'), Type.Literal('replace'), Type.Literal('remove')])),
});

export const AssignedVersion = Type.Object({ name: Type.String(), version: Type.String() });

export const ConfirmationFeedback = Type.Object({
  confirmation: Type.Union([Type.Literal('confirmed'), Type.Literal('denied')]),
  code: Type.Optional(Type.Integer()),
  details: Type.Optional(Type.Array(Type.String())),
});

export const ActivateAutoConfirmation = Type.Object({
  initiator: Type.Optional(Type.String()),
  remark: Type.Optional(Type.String()),
});

/** Responses of a route: its 200 body (if any) and hawkBit's error body for the rest. */
export function responses(ok?: object) {
  return {
    200: ok ?? Type.Null({ description: 'empty' }),
    '4xx': ExceptionInfo,
  };
}
