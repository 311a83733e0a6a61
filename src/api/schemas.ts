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
