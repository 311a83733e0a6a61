// Long id lists from a request become several `IN (...)` queries: one statement binds at most 32,766 values on
// SQLite and 65,535 on PostgreSQL, and a 1 MiB JSON body holds ~250,000 short ids (a list past the limit failed
// the whole request with a 500).

/** Values bound in one `IN (...)` list: far under both dialects' limits, with room for the query's other values. */
export const IN_LIST_BATCH = 500;

/** Runs `query` over `values` in batches of IN_LIST_BATCH and concatenates the rows, in batch order. */
export async function inBatches<V, R>(values: readonly V[], query: (batch: V[]) => Promise<R[]>): Promise<R[]> {
  const rows: R[] = [];
  for (let i = 0; i < values.length; i += IN_LIST_BATCH) {
    rows.push(...(await query(values.slice(i, i + IN_LIST_BATCH))));
  }
  return rows;
}
