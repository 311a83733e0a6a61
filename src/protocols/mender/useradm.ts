// Mender useradm routes (management v1 and v2): login and logout, users, settings documents and personal access
// tokens. Thin translation between the wire shapes of ../shared/specs/mender/useradm-*.yml and src/users.
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { userOf } from '../../auth/guard.js';
import { RateLimiter } from '../../auth/ratelimit.js';
import { DomainError, Invalid, Unauthorized, Unprocessable } from '../../errors.js';
import type { Services } from '../../services.js';
import { DuplicateEmail } from '../../users/service.js';
import type { UserFilter } from '../../users/store.js';

const V1 = '/api/management/v1/useradm';
const V2 = '/api/management/v2/useradm';
const TAGS = ['useradm'];

const LoginOptions = Type.Object({ no_expiry: Type.Optional(Type.Boolean()) });
// `roles`: Mender Enterprise's role names (src/users/roles.ts); absent on create: admin, on update: kept.
const Roles = Type.Optional(Type.Array(Type.String({ minLength: 1 }), { maxItems: 100 }));
const UserNew = Type.Object({ email: Type.String(), password: Type.String(), roles: Roles });
const UserUpdate = Type.Object({
  email: Type.Optional(Type.String()),
  password: Type.Optional(Type.String()),
  current_password: Type.Optional(Type.String()),
  roles: Roles,
});
const OwnUserUpdateV2 = Type.Object({
  password: Type.Optional(Type.String()),
  current_password: Type.Optional(Type.String()),
});
const UserQuery = Type.Object({
  id: Type.Optional(Type.Array(Type.String())),
  email: Type.Optional(Type.Array(Type.String())),
  created_after: Type.Optional(Type.Integer()),
  created_before: Type.Optional(Type.Integer()),
  updated_after: Type.Optional(Type.Integer()),
  updated_before: Type.Optional(Type.Integer()),
});
const IdParams = Type.Object({ id: Type.String() });
const TokenRequest = Type.Object({ name: Type.String(), expires_in: Type.Optional(Type.Integer()) });
const Settings = Type.Object({}, { additionalProperties: true, description: 'User settings.' });
const IfMatch = Type.Object({ 'if-match': Type.Optional(Type.String()) });

type Body<T extends TSchema> = { Body: Static<T> };

/** Mender's content-type check on JSON routes: a body of another type is 415, of no type 400; no body passes. */
export async function requireJson(request: FastifyRequest): Promise<void> {
  const length = Number(request.headers['content-length'] ?? 0);
  if (length === 0 && request.headers['transfer-encoding'] === undefined) return;
  const type = (request.headers['content-type'] ?? '').split(';', 1)[0].trim().toLowerCase();
  if (type === '') throw new Invalid('Invalid value for Content-Type header: mime: no media type');
  if (type !== 'application/json') throw new DomainError("Bad Content-Type, expected 'application/json'", 415);
}

/** `Authorization: Basic base64(email:password)`, or undefined when absent or malformed. */
function basicCredentials(header: string | undefined): { email: string; password: string } | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { email: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

// Query times are UNIX seconds; stored times are ISO text, so clamp to the years ISO text sorts correctly in.
const EARLIEST_MS = Date.parse('0000-01-01T00:00:00.000Z');
const LATEST_MS = Date.parse('9999-12-31T23:59:59.999Z');
function unixToIso(seconds: number | undefined): string | undefined {
  if (seconds === undefined) return undefined;
  return new Date(Math.min(LATEST_MS, Math.max(EARLIEST_MS, seconds * 1000))).toISOString();
}

/** If-Match as sent; quotes and a weak prefix are tolerated, an empty value means none (as in Mender). */
function ifMatchOf(header: string | undefined): string | undefined {
  const value = header
    ?.trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');
  return value ? value : undefined;
}

export async function useradmRoutes(app: FastifyInstance, { services }: { services: Services }): Promise<void> {
  const { users } = services;
  const loginLimiter = new RateLimiter(services.config.rateLimit.max, services.config.rateLimit.windowMs);

  // Login and logout take an empty body even when it is labelled JSON (real clients send that), so they get
  // a JSON parser of their own that reads an empty body as no body.
  await app.register(async (open) => {
    const parseJson = open.getDefaultJsonParser('error', 'error');
    open.removeContentTypeParser('application/json');
    open.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
      const bytes = body as Buffer;
      if (bytes.length === 0) return done(null, undefined);
      request.rawBody = bytes;
      parseJson(request, bytes as unknown as string, done);
    });

    open.post<Body<typeof LoginOptions>>(
      `${V1}/auth/login`,
      {
        onRequest: requireJson,
        // The options are optional: no body reads as no options.
        preValidation: async (request) => {
          request.body ??= {};
        },
        schema: { tags: TAGS, summary: 'Log in to Mender', security: [{ Basic: [] }], body: LoginOptions },
      },
      async (request, reply) => {
        loginLimiter.hit(`login|${request.ip}`);
        const credentials = basicCredentials(request.headers.authorization);
        if (!credentials) throw new Unauthorized('invalid or missing auth header');
        const token = await users.login(credentials.email, credentials.password, {
          noExpiry: request.body.no_expiry === true,
        });
        return reply.status(200).type('application/jwt').send(token);
      },
    );

    open.post(
      `${V1}/auth/logout`,
      { onRequest: requireJson, schema: { tags: TAGS, summary: 'Log out from Mender' } },
      async (request, reply) => {
        await users.logout(userOf(request));
        return reply.status(202).send();
      },
    );
  });

  app.get<{ Querystring: Static<typeof UserQuery> }>(
    `${V1}/users`,
    { schema: { tags: TAGS, summary: 'List users of the tenant', querystring: UserQuery } },
    async (request) => {
      const q = request.query;
      const filter: UserFilter = {
        ids: q.id,
        emails: q.email,
        createdAfter: unixToIso(q.created_after),
        createdBefore: unixToIso(q.created_before),
        updatedAfter: unixToIso(q.updated_after),
        updatedBefore: unixToIso(q.updated_before),
      };
      return users.list(userOf(request).tenantId, filter);
    },
  );

  app.post<Body<typeof UserNew>>(
    `${V1}/users`,
    { onRequest: requireJson, schema: { tags: TAGS, summary: 'Create a user in the tenant', body: UserNew } },
    async (request, reply) => {
      const { tenantId } = userOf(request);
      try {
        const { email, password, roles } = request.body;
        const user = await users.create(tenantId, email, password, userOf(request), roles);
        return reply.status(201).header('Location', `${V1}/users/${user.id}`).send();
      } catch (error) {
        // The domain calls a taken email a conflict; Mender's API answers 422 for it.
        if (error instanceof DuplicateEmail) throw new Unprocessable(error.message);
        throw error;
      }
    },
  );

  app.get<{ Params: Static<typeof IdParams> }>(
    `${V1}/users/:id`,
    { schema: { tags: TAGS, summary: 'Show a user (`me`: the caller)', params: IdParams } },
    async (request) => {
      const caller = userOf(request);
      const id = request.params.id === 'me' ? caller.userId : request.params.id;
      return users.get(caller.tenantId, id);
    },
  );

  app.put<{ Params: Static<typeof IdParams>; Body: Static<typeof UserUpdate> }>(
    `${V1}/users/:id`,
    {
      onRequest: requireJson,
      schema: { tags: TAGS, summary: 'Update a user (`me`: the caller)', params: IdParams, body: UserUpdate },
    },
    async (request, reply) => {
      const caller = userOf(request);
      const id = request.params.id.toLowerCase() === 'me' ? caller.userId : request.params.id;
      await users.update(caller, id, request.body, true);
      return reply.status(204).send();
    },
  );

  app.delete<{ Params: Static<typeof IdParams> }>(
    `${V1}/users/:id`,
    { schema: { tags: TAGS, summary: 'Remove a user', params: IdParams } },
    async (request, reply) => {
      await users.remove(userOf(request).tenantId, request.params.id, userOf(request));
      return reply.status(204).send();
    },
  );

  app.put<Body<typeof OwnUserUpdateV2>>(
    `${V2}/users/me`,
    { onRequest: requireJson, schema: { tags: TAGS, summary: 'Update own user', body: OwnUserUpdateV2 } },
    async (request, reply) => {
      const caller = userOf(request);
      const { password, current_password } = request.body;
      await users.update(caller, caller.userId, { password, current_password }, false);
      return reply.status(204).send();
    },
  );

  // Settings: the tenant's document and the caller's own.
  for (const mine of [false, true]) {
    const path = mine ? `${V1}/settings/me` : `${V1}/settings`;
    const ownerOf = (request: FastifyRequest) => {
      const caller = userOf(request);
      return { tenantId: caller.tenantId, userId: mine ? caller.userId : undefined };
    };
    app.get(
      path,
      { schema: { tags: TAGS, summary: mine ? 'Get own settings' : 'Get tenant settings' } },
      async (request, reply) => {
        const settings = await users.settings.get(ownerOf(request));
        if (settings.etag) reply.header('ETag', settings.etag);
        return reply.status(200).type('application/json').send(settings.document);
      },
    );
    app.post<{ Headers: Static<typeof IfMatch> }>(
      path,
      {
        onRequest: requireJson,
        schema: {
          tags: TAGS,
          summary: mine ? 'Set own settings' : 'Set tenant settings',
          headers: IfMatch,
          body: Settings,
        },
      },
      async (request: FastifyRequest<{ Headers: Static<typeof IfMatch> }>, reply: FastifyReply) => {
        await users.settings.save(
          ownerOf(request),
          request.body,
          ifMatchOf(request.headers['if-match']),
          userOf(request),
        );
        return reply.status(201).send();
      },
    );
  }

  app.get(
    `${V1}/settings/tokens`,
    { schema: { tags: TAGS, summary: 'List own personal access tokens' } },
    async (request) => users.accessTokens.list(userOf(request)),
  );

  app.post<Body<typeof TokenRequest>>(
    `${V1}/settings/tokens`,
    { onRequest: requireJson, schema: { tags: TAGS, summary: 'Create a personal access token', body: TokenRequest } },
    async (request, reply) => {
      const token = await users.accessTokens.issue(userOf(request), request.body);
      // Mender answers with the bare JWT, like login, so that scripts can use the answer as it is.
      return reply.status(200).type('application/jwt').send(token);
    },
  );

  app.delete<{ Params: Static<typeof IdParams> }>(
    `${V1}/settings/tokens/:id`,
    { schema: { tags: TAGS, summary: 'Revoke a personal access token', params: IdParams } },
    async (request, reply) => {
      await users.accessTokens.revoke(userOf(request), request.params.id);
      return reply.status(204).send();
    },
  );

  // Plans and the plan binding: ./plans.ts.
}
