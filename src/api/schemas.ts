// TypeBox pieces the route plugins share. With the TypeBox type provider a route's request.params, query and body
// are typed from its schema, so these keep literal types (a union of literals is typed as those strings).
import { type TLiteral, type TUnion, Type } from '@sinclair/typebox';

/** One of the given strings; Static<> is their union, not `string`. */
export function literals<const T extends string>(values: readonly T[]): TUnion<TLiteral<T>[]> {
  return Type.Union(values.map((value) => Type.Literal(value))) as TUnion<TLiteral<T>[]>;
}

/**
 * A JSON object (not null, not an array). Bodies whose bad-input answers are the protocol's own texts (Mender's
 * "failed to decode request body: …", hawkBit's feedback errors) have no Fastify body schema, whose 400 would come
 * first with another text; their handlers read the unknown body through this guard instead of a cast.
 */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const QueryValue = Type.Union([Type.String(), Type.Array(Type.String())]);

/**
 * A query string whose names are open (inventory filters by any attribute; audit log and monitor filters that the
 * handler reads one by one with the API's own error texts): every value a string, or several when the name repeats.
 * `known` names the parameters the route documents (listed in the OpenAPI document); any other name is let through.
 */
export function openQuery(known: readonly string[]) {
  return Type.Object(Object.fromEntries(known.map((name) => [name, Type.Optional(QueryValue)])), {
    additionalProperties: QueryValue,
  });
}
/** What an openQuery() schema lets through, as the handler reads it. */
export type OpenQuery = Record<string, string | string[] | undefined>;
