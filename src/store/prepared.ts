// Hot-path statements whose SQL text is built by Kysely once per dialect and shape, then reused with new arguments
// (Kysely rebuilding the same statement on every device event cost a fifth of a deployment's CPU). The cache holds
// only derived, immutable SQL text: tenant, ids and values are always bound as parameters, and the schema comes from
// the connection's `search_path`, never from the text; so apps in one process share it safely.
import { CompiledQuery, type Kysely, type QueryResult, type Transaction } from 'kysely';

type Template = { sql: string; parameters: ({ arg: number } | { value: unknown })[] };

/** SQL texts by dialect and statement name. */
const TEMPLATES = new Map<string, Template>();

/**
 * Runs the statement `name`: `build` gets a marker for each argument and is called once per dialect; later calls
 * reuse its compiled text with `args` put where the markers were. One name is one statement shape.
 */
export function runPrepared<DB>(
  db: Kysely<DB> | Transaction<DB>,
  name: string,
  build: (...markers: string[]) => { compile(): CompiledQuery },
  args: readonly unknown[],
): Promise<QueryResult<Record<string, unknown>>> {
  const key = `${db.getExecutor().adapter.constructor.name}|${name}`;
  let template = TEMPLATES.get(key);
  if (!template) {
    const markers = args.map((_, index) => `\u0000arg${index}`);
    const compiled = build(...markers).compile();
    template = {
      sql: compiled.sql,
      parameters: compiled.parameters.map((value) => {
        const index = markers.indexOf(value as string);
        return index >= 0 ? { arg: index } : { value };
      }),
    };
    TEMPLATES.set(key, template);
  }
  const parameters = template.parameters.map((p) => ('arg' in p ? args[p.arg] : p.value));
  return db.executeQuery<Record<string, unknown>>(CompiledQuery.raw(template.sql, parameters));
}
