// The API contract: loads the official Mender OpenAPI 3.0 specs (flat files in /work/shared/specs/mender), finds the
// operation behind a method + URL, and checks a response (status, content type, JSON body) against it with Ajv.
// `contractInject` is `app.inject` that throws a readable list of every mismatch with the spec.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import formats from 'ajv-formats';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { parse } from 'yaml';
import { specPatches, undocumentedRoutes } from '../contract/deviations.js';

/** The official Mender specs: FLOTILLA_SPEC_DIR, else `shared/specs/mender` beside the checkout (as CI lays it). */
export const SPEC_DIR =
  process.env.FLOTILLA_SPEC_DIR ?? resolvePath(import.meta.dirname, '../../../shared/specs/mender');

/**
 * Why the contract tests cannot run here, for their `describe(..., { skip: specsMissing })`; undefined when the
 * specs are there. A fresh clone without them reports those tests as skipped; with FLOTILLA_REQUIRE_SPECS=1 (set
 * by .ci/run) a missing folder fails instead, so CI can never pass by skipping them.
 */
export const specsMissing: string | undefined = existsSync(join(SPEC_DIR, 'useradm-management-v1.yml'))
  ? undefined
  : `official Mender specs not found in ${SPEC_DIR}: put shared/specs beside the checkout or set FLOTILLA_SPEC_DIR`;
if (specsMissing && process.env.FLOTILLA_REQUIRE_SPECS === '1') throw new Error(specsMissing);

/**
 * Status codes the Mender API reference declares common to every endpoint and leaves out of each operation
 * ("Common HTTP response codes", ../shared/seeds/003_ba92f9ccea02ad41.txt and 001_04e9a76ae7f6d9d4.txt).
 * An operation that does not declare one of them may still answer it, with the spec's `Error` body.
 */
export const COMMON_STATUSES = ['401', '403', '429', '500'] as const;

const ERROR_CONTENT: JsonObject = { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } };

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** A change to a spec document before use; only for spec text that is wrong or ambiguous (say why). */
export interface SpecPatch {
  file: string;
  /** Path of keys from the document root to the value that is replaced (or created). */
  at: string[];
  value: unknown;
  reason: string;
}

export interface Operation {
  file: string;
  method: string;
  /** Path template as the spec writes it, e.g. `/api/management/v2/devauth/devices/{id}`. */
  template: string;
  operationId?: string;
  definition: JsonObject;
  /** Segments of the template; `null` marks a path parameter. */
  segments: (string | null)[];
}

export interface ContractOptions {
  dir?: string;
  patches?: SpecPatch[];
  /** Only these files (default: every `*.yml` in `dir` that has `paths`). */
  files?: string[];
}

export interface CheckResult {
  operation?: Operation;
  mismatches: string[];
}

type Headers = Record<string, string | string[] | number | undefined>;

export class Contract {
  readonly operations: Operation[] = [];
  private readonly docs = new Map<string, JsonObject>();
  private readonly ajv: Ajv;
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(options: ContractOptions = {}) {
    const dir = options.dir ?? SPEC_DIR;
    const files = options.files ?? readdirSync(dir).filter((name) => name.endsWith('.yml'));
    this.ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
    formats.default(this.ajv);
    // OpenAPI 3.0 formats that ajv-formats does not know; numbers are still type-checked by `type`.
    this.ajv.addFormat('int32', {
      type: 'number',
      validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 31,
    });
    this.ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
    for (const name of ['float', 'double']) this.ajv.addFormat(name, { type: 'number', validate: () => true });
    for (const name of ['binary', 'password']) this.ajv.addFormat(name, () => true);
    this.ajv.addFormat('byte', /^[A-Za-z0-9+/]*={0,2}$/);

    for (const file of files) {
      const doc = parse(readFileSync(join(dir, file), 'utf8')) as JsonObject;
      if (!doc || typeof doc !== 'object' || !doc.paths) continue;
      for (const patch of options.patches ?? []) if (patch.file === file) applyPatch(doc, patch);
      this.docs.set(file, doc);
      const schemas = ((doc.components as JsonObject | undefined)?.schemas ?? {}) as JsonObject;
      for (const mode of ['request', 'response'] as const) {
        const definitions: JsonObject = {};
        for (const [name, schema] of Object.entries(schemas)) definitions[name] = toJsonSchema(schema, mode, file);
        this.ajv.addSchema({ $id: schemaId(file, mode), definitions });
      }
      for (const [template, pathItem] of Object.entries(doc.paths as JsonObject)) {
        for (const method of METHODS) {
          const definition = (pathItem as JsonObject)[method] as JsonObject | undefined;
          if (!definition) continue;
          this.operations.push({
            file,
            method: method.toUpperCase(),
            template,
            operationId: definition.operationId as string | undefined,
            definition,
            segments: template.split('/').map((segment) => (/^\{[^}]+\}$/.test(segment) ? null : segment)),
          });
        }
      }
    }
  }

  /** The operation for a concrete URL (query ignored); a literal segment wins over a parameter (`users/me`). */
  find(method: string, url: string): Operation | undefined {
    const parts = url.split('?', 1)[0].split('/');
    let best: Operation | undefined;
    for (const op of this.operations) {
      if (op.method !== method.toUpperCase() || op.segments.length !== parts.length) continue;
      if (!op.segments.every((segment, i) => segment === null || segment === parts[i])) continue;
      if (!best || moreLiteral(op, best)) best = op;
    }
    return best;
  }

  /** The operation with this method and template shape; parameter names do not matter (`:id` ≡ `{deviceId}`). */
  findTemplate(method: string, template: string): Operation | undefined {
    const shape = templateShape(template);
    return this.operations.find((op) => op.method === method.toUpperCase() && templateShape(op.template) === shape);
  }

  /** Checks one response against the spec; returns every mismatch (empty when it conforms). */
  checkResponse(method: string, url: string, statusCode: number, headers: Headers, body: string | Buffer): CheckResult {
    const operation = this.find(method, url);
    if (!operation) return { mismatches: [`no operation ${method.toUpperCase()} ${url.split('?', 1)[0]} in any spec`] };
    const mismatches: string[] = [];
    const doc = this.docs.get(operation.file)!;
    const responses = (operation.definition.responses ?? {}) as JsonObject;
    const status = String(statusCode);
    const declared =
      responses[status] ?? responses[`${status[0]}XX`] ?? responses[`${status[0]}xx`] ?? responses.default;
    let response: JsonObject;
    let pointer: string[];
    if (declared !== undefined) {
      const key = [status, `${status[0]}XX`, `${status[0]}xx`, 'default'].find((k) => responses[k] !== undefined)!;
      pointer = ['paths', operation.template, operation.method.toLowerCase(), 'responses', key];
      [response, pointer] = resolve(doc, declared as JsonObject, pointer);
    } else if ((COMMON_STATUSES as readonly string[]).includes(status)) {
      response = { content: ERROR_CONTENT };
      pointer = ['(common response)'];
    } else {
      const known = Object.keys(responses).join(', ');
      return { operation, mismatches: [`status ${status} is not declared (declared: ${known})`] };
    }

    const raw = typeof body === 'string' ? Buffer.from(body) : body;
    let content = response.content as JsonObject | undefined;
    const contentType = headerValue(headers, 'content-type');
    const described = content !== undefined && Object.keys(content).length > 0;
    if (!described && statusCode >= 400 && raw.length > 0) {
      // An error whose body the spec leaves undescribed (useradm's 412 is `content: {}`) may still carry the
      // API's Error body: Mender's services write one for every error (rest.RenderError).
      content = ERROR_CONTENT;
      pointer = ['(undescribed error body)'];
    }
    if (!content || Object.keys(content).length === 0) {
      if (raw.length > 0)
        mismatches.push(
          `spec declares no body for ${status}, got ${raw.length} bytes (${contentType ?? 'no content type'})`,
        );
      return { operation, mismatches };
    }
    if (raw.length === 0) {
      mismatches.push(`spec declares a body (${Object.keys(content).join(' | ')}) for ${status}, got none`);
      return { operation, mismatches };
    }
    if (!contentType) {
      mismatches.push(`no Content-Type; spec declares ${Object.keys(content).join(' | ')}`);
      return { operation, mismatches };
    }
    const media = mediaType(contentType);
    const mediaKey = Object.keys(content).find((key) => mediaMatches(key, media));
    if (!mediaKey) {
      mismatches.push(`Content-Type ${media}; spec declares ${Object.keys(content).join(' | ')} for ${status}`);
      return { operation, mismatches };
    }
    const schema = (content[mediaKey] as JsonObject).schema as JsonObject | undefined;
    if (!schema) return { operation, mismatches };
    if (isJsonMedia(media)) {
      let value: unknown;
      try {
        value = JSON.parse(raw.toString('utf8'));
      } catch {
        mismatches.push(`body is not JSON although Content-Type is ${media}: ${preview(raw)}`);
        return { operation, mismatches };
      }
      const validate = this.validator(operation.file, 'response', [...pointer, 'content', mediaKey, 'schema'], schema);
      if (!validate(value)) mismatches.push(...formatErrors(validate.errors, value));
    } else if (schema.type !== undefined && schema.type !== 'string') {
      mismatches.push(`spec wants a ${String(schema.type)} body as ${mediaKey}; cannot read one from ${media}`);
    }
    return { operation, mismatches };
  }

  /** Checks a JSON request body against the operation's request schema (for requests the server accepted). */
  checkRequest(operation: Operation, contentType: string | undefined, body: unknown): string[] {
    const doc = this.docs.get(operation.file)!;
    const declared = operation.definition.requestBody as JsonObject | undefined;
    if (!declared || body === undefined) return [];
    const [requestBody, pointer] = resolve(doc, declared, [
      'paths',
      operation.template,
      operation.method.toLowerCase(),
      'requestBody',
    ]);
    const content = (requestBody.content ?? {}) as JsonObject;
    const media = mediaType(contentType ?? 'application/json');
    const mediaKey = Object.keys(content).find((key) => mediaMatches(key, media));
    if (!mediaKey) return [`request Content-Type ${media}; spec accepts ${Object.keys(content).join(' | ')}`];
    const schema = (content[mediaKey] as JsonObject).schema as JsonObject | undefined;
    if (!schema || !isJsonMedia(media)) return [];
    const validate = this.validator(operation.file, 'request', [...pointer, 'content', mediaKey, 'schema'], schema);
    return validate(body) ? [] : formatErrors(validate.errors, body).map((m) => `request ${m}`);
  }

  private validator(file: string, mode: Mode, pointer: string[], schema: JsonObject): ValidateFunction {
    const key = `${file}|${mode}|${pointer.join('/')}`;
    let validate = this.validators.get(key);
    if (!validate) {
      validate = this.ajv.compile(toJsonSchema(schema, mode, file) as object);
      this.validators.set(key, validate);
    }
    return validate;
  }
}

export interface ContractInjectOptions {
  /**
   * The route exists in no official spec; give the reason (it must also be in deviations.ts). The response is
   * then only checked for being JSON when it says so.
   */
  undocumented?: boolean;
  /** Skip the check of the request body against the spec (for tests that send a bad body on purpose). */
  invalidRequest?: boolean;
}

let defaultContract: Contract | undefined;

/** The official specs with the written deviations of test/contract/deviations.ts applied. */
export function contract(): Contract {
  defaultContract ??= new Contract({ patches: specPatches });
  return defaultContract;
}

export function checkResponse(
  method: string,
  url: string,
  statusCode: number,
  headers: Headers,
  body: string | Buffer,
): string[] {
  return contract().checkResponse(method, url, statusCode, headers, body).mismatches;
}

export class ContractViolation extends Error {
  constructor(
    readonly request: string,
    readonly mismatches: string[],
    readonly response: LightMyRequestResponse,
  ) {
    super(
      `${request} -> ${response.statusCode} does not match the spec:\n${mismatches.map((m) => `  - ${m}`).join('\n')}\n` +
        `  body: ${preview(response.rawPayload)}`,
    );
    this.name = 'ContractViolation';
  }
}

/**
 * `app.inject(opts)`, then the response is checked against the spec (and, when the server accepted it, the
 * request body too, so a test cannot drive a route with a shape the spec does not allow). Throws ContractViolation.
 */
export async function contractInject(
  app: FastifyInstance,
  opts: InjectOptions,
  options: ContractInjectOptions = {},
  using: Contract = contract(),
): Promise<LightMyRequestResponse> {
  const response = await app.inject(opts);
  const method = (opts.method ?? 'GET').toUpperCase();
  const url = injectUrl(opts);
  const label = `${method} ${url}`;
  if (options.undocumented) {
    const template = Object.keys(undocumentedRoutes).find((route) => matchesRoute(route, method, url));
    if (!template) throw new Error(`${label} is marked undocumented but has no entry in test/contract/deviations.ts`);
    return response;
  }
  const result = using.checkResponse(method, url, response.statusCode, response.headers, response.rawPayload);
  const mismatches = [...result.mismatches];
  if (result.operation && response.statusCode < 300 && !options.invalidRequest) {
    const body = requestJson(opts);
    if (body !== undefined) mismatches.push(...using.checkRequest(result.operation, requestContentType(opts), body));
  }
  if (mismatches.length > 0) throw new ContractViolation(label, mismatches, response);
  return response;
}

// ---------------------------------------------------------------------------------------------------------------
// OpenAPI 3.0 schema → JSON Schema (draft-07, as Ajv reads it)

type Mode = 'request' | 'response';

function schemaId(file: string, mode: Mode): string {
  return `https://specs.flotilla.invalid/${mode}/${file}`;
}

/**
 * OpenAPI 3.0 differs from JSON Schema in a few places: `nullable`, boolean `exclusiveMinimum/Maximum`, `$ref`
 * siblings being ignored, and `readOnly`/`writeOnly` properties being required only in one direction.
 * Refs to `#/components/schemas/X` point at the converted copy of the same document for the same direction.
 */
export function toJsonSchema(schema: Json, mode: Mode, file: string): Json {
  if (Array.isArray(schema)) return schema.map((item) => toJsonSchema(item, mode, file));
  if (schema === null || typeof schema !== 'object') return schema;
  if (typeof schema.$ref === 'string') {
    const match = /^#\/components\/schemas\/(.+)$/.exec(schema.$ref);
    if (!match) throw new Error(`${file}: unsupported $ref ${schema.$ref}`);
    return { $ref: `${schemaId(file, mode)}#/definitions/${match[1]}` };
  }
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'properties' && value && typeof value === 'object' && !Array.isArray(value)) {
      const properties: JsonObject = {};
      for (const [name, property] of Object.entries(value)) properties[name] = toJsonSchema(property, mode, file);
      out.properties = properties;
    } else if (['items', 'additionalProperties', 'not'].includes(key)) {
      out[key] = toJsonSchema(value, mode, file);
    } else if (['allOf', 'anyOf', 'oneOf'].includes(key)) {
      out[key] = toJsonSchema(value, mode, file);
    } else if (key === 'example' || key === 'examples' || key === 'discriminator' || key.startsWith('x-')) {
      // annotations only
    } else {
      out[key] = value;
    }
  }
  if (Array.isArray(schema.required) && schema.properties && typeof schema.properties === 'object') {
    const properties = schema.properties as JsonObject;
    const hidden = mode === 'response' ? 'writeOnly' : 'readOnly';
    out.required = schema.required.filter(
      (name) => (properties[name as string] as JsonObject | undefined)?.[hidden] !== true,
    );
  }
  for (const bound of ['Minimum', 'Maximum'] as const) {
    const flag = out[`exclusive${bound}`];
    if (typeof flag === 'boolean') {
      const limit = out[bound.toLowerCase()];
      delete out[`exclusive${bound}`];
      if (flag && typeof limit === 'number') {
        out[`exclusive${bound}`] = limit;
        delete out[bound.toLowerCase()];
      }
    }
  }
  if (out.nullable === true) {
    delete out.nullable;
    if (typeof out.type === 'string') {
      out.type = [out.type, 'null'];
      if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
      return out;
    }
    return { anyOf: [out, { type: 'null' }] };
  }
  delete out.nullable;
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// helpers

function applyPatch(doc: JsonObject, patch: SpecPatch): void {
  let node: JsonObject = doc;
  for (const key of patch.at.slice(0, -1)) {
    if (node[key] === undefined) node[key] = {};
    node = node[key] as JsonObject;
    if (!node || typeof node !== 'object') throw new Error(`patch ${patch.at.join(' > ')} in ${patch.file}: no object`);
  }
  node[patch.at[patch.at.length - 1]] = patch.value as Json;
}

/** Follows `$ref`s between OpenAPI objects (responses, request bodies) within one document. */
function resolve(doc: JsonObject, node: JsonObject, pointer: string[]): [JsonObject, string[]] {
  let current = node;
  let at = pointer;
  for (let hops = 0; typeof current.$ref === 'string'; hops++) {
    if (hops > 10 || !current.$ref.startsWith('#/')) throw new Error(`cannot follow $ref ${current.$ref}`);
    at = current.$ref
      .slice(2)
      .split('/')
      .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'));
    current = at.reduce<Json>((value, key) => (value as JsonObject)?.[key], doc) as JsonObject;
    if (!current) throw new Error(`dangling $ref ${at.join('/')}`);
  }
  return [current, at];
}

function moreLiteral(a: Operation, b: Operation): boolean {
  for (let i = 0; i < a.segments.length; i++) {
    const aLiteral = a.segments[i] !== null;
    const bLiteral = b.segments[i] !== null;
    if (aLiteral !== bLiteral) return aLiteral;
  }
  return false;
}

/** `/a/:id/b` and `/a/{deviceId}/b` both become `/a/{}/b`. */
export function templateShape(template: string): string {
  return template
    .split('/')
    .map((segment) => (/^(:.+|\{[^}]+\})$/.test(segment) ? '{}' : segment))
    .join('/');
}

/** Does `METHOD /template` (an undocumentedRoutes key) cover this concrete request? */
export function matchesRoute(route: string, method: string, url: string): boolean {
  const [routeMethod, template] = route.split(' ');
  if (routeMethod !== method.toUpperCase()) return false;
  const want = templateShape(template).split('/');
  const parts = url.split('?', 1)[0].split('/');
  return want.length === parts.length && want.every((segment, i) => segment === '{}' || segment === parts[i]);
}

function headerValue(headers: Headers, name: string): string | undefined {
  const value = headers[name] ?? headers[name.toLowerCase()];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(', ') : String(value);
}

function mediaType(contentType: string): string {
  return contentType.split(';', 1)[0].trim().toLowerCase();
}

function mediaMatches(declared: string, actual: string): boolean {
  const want = declared.toLowerCase();
  if (want === '*/*' || want === actual) return true;
  return want.endsWith('/*') && actual.startsWith(want.slice(0, -1));
}

function isJsonMedia(media: string): boolean {
  return media === 'application/json' || media.endsWith('+json');
}

function formatErrors(errors: ErrorObject[] | null | undefined, value: unknown): string[] {
  return (errors ?? []).map((error) => {
    const where = error.instancePath || '(root)';
    const params = error.params as Record<string, unknown>;
    const detail =
      params.missingProperty !== undefined
        ? `: "${params.missingProperty}"`
        : params.additionalProperty !== undefined
          ? `: "${params.additionalProperty}"`
          : params.allowedValues !== undefined
            ? `: ${JSON.stringify(params.allowedValues)}`
            : '';
    const actual =
      error.keyword === 'required' || error.keyword === 'additionalProperties'
        ? ''
        : ` (got ${preview(at(value, error.instancePath))})`;
    return `body ${where} ${error.message}${detail}${actual}`;
  });
}

function at(value: unknown, instancePath: string): unknown {
  if (!instancePath) return value;
  return instancePath
    .slice(1)
    .split('/')
    .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], value);
}

function preview(value: unknown): string {
  const text = Buffer.isBuffer(value) ? value.toString('utf8') : (JSON.stringify(value) ?? String(value));
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}

function injectUrl(opts: InjectOptions): string {
  const url = typeof opts.url === 'string' ? opts.url : (opts.path as string | undefined);
  if (typeof url !== 'string') throw new Error('contractInject needs opts.url as a string');
  if (!opts.query || typeof opts.query === 'string') return opts.query ? `${url}?${opts.query}` : url;
  return url;
}

function requestContentType(opts: InjectOptions): string | undefined {
  const headers = (opts.headers ?? {}) as Headers;
  const explicit = headerValue(headers, 'content-type');
  if (explicit) return explicit;
  return opts.payload !== undefined && typeof opts.payload === 'object' && !Buffer.isBuffer(opts.payload)
    ? 'application/json'
    : undefined;
}

function requestJson(opts: InjectOptions): unknown {
  const payload = opts.payload ?? opts.body;
  if (payload === undefined) return undefined;
  const type = requestContentType(opts);
  if (type && !isJsonMedia(mediaType(type))) return undefined;
  if (typeof payload === 'string' || Buffer.isBuffer(payload)) {
    try {
      return JSON.parse(payload.toString());
    } catch {
      return undefined;
    }
  }
  return payload;
}
