// Device search in SQL: filter terms become EXISTS / NOT EXISTS subqueries over the one-row-per-value
// attributes table (indexed by tenant, scope, name, value), sorting joins an attribute's idx-0 row. The same
// statements run on SQLite and PostgreSQL; nothing is filtered in JavaScript.
import { type Kysely, type RawBuilder, sql, type Transaction } from 'kysely';
import type { DialectName } from '../store/db.js';
import type { Tables } from '../store/schema.js';
import type { Condition, Scalar, SortCriterion, Term } from './predicates.js';

type Db = Kysely<Tables> | Transaction<Tables>;
type Bool = RawBuilder<unknown>;

const TRUE: Bool = sql`1 = 1`;
const FALSE: Bool = sql`1 = 0`;

/**
 * Attributes that are columns of the device row rather than attribute rows: the device id, its admission
 * status and when it was created. They always exist and are strings.
 */
const DEVICE_COLUMNS: Record<string, RawBuilder<unknown>> = {
  'identity/id': sql.ref('d.id'),
  'identity/status': sql.ref('d.status'),
  'system/created_ts': sql.ref('d.created_ts'),
};

export function isDeviceColumn(scope: string, name: string): boolean {
  return `${scope}/${name}` in DEVICE_COLUMNS;
}

export interface SearchQuery {
  terms: Term[];
  sort: SortCriterion[];
  /** Only these devices (v2 `device_ids`), when given and not empty. */
  deviceIds?: string[];
  /** Free text: any keyword found in an identity, inventory or tags value, or in the device id. */
  text?: string;
  offset: number;
  limit: number;
}

export interface DeviceRow {
  id: string;
  status: string;
  created_ts: string;
}

export class DeviceSearch {
  constructor(
    private readonly db: Db,
    private readonly dialect: DialectName,
    private readonly tenantId: string,
  ) {}

  /** One page of matching devices in order, and how many match in all. */
  async run(query: SearchQuery): Promise<{ devices: DeviceRow[]; total: number }> {
    const where = this.where(query);
    try {
      const count = await sql<{ total: number }>`select count(*) as total from devices d where ${where}`.execute(
        this.db,
      );
      const total = Number(count.rows[0]?.total ?? 0);
      if (total === 0 || query.offset >= total) return { devices: [], total };
      const joins: RawBuilder<unknown>[] = [];
      const order: RawBuilder<unknown>[] = [];
      for (const [i, criterion] of query.sort.entries()) this.orderBy(criterion, i, joins, order);
      // Ties (and no sort at all) keep the order devices were created in, like MongoDB's natural order.
      order.push(sql`d.created_ts asc`, sql`d.id asc`);
      const page = await sql<DeviceRow>`select d.id, d.status, d.created_ts from devices d ${sql.join(joins, sql` `)}
        where ${where} order by ${sql.join(order)} limit ${query.limit} offset ${query.offset}`.execute(this.db);
      return { devices: page.rows, total };
    } catch (error) {
      // PostgreSQL refuses a few patterns that JavaScript accepted; the spec says a bad regex finds nothing.
      if ((error as { code?: string }).code === '2201B') return { devices: [], total: 0 };
      throw error;
    }
  }

  private where(query: SearchQuery): Bool {
    const parts: Bool[] = [sql`d.tenant_id = ${this.tenantId}`];
    for (const term of query.terms) parts.push(this.term(term));
    if (query.deviceIds?.length) parts.push(sql`d.id in (${sql.join(query.deviceIds)})`);
    const words = query.text?.split(/\s+/).filter(Boolean) ?? [];
    if (words.length)
      parts.push(
        sql`(${sql.join(
          words.map((w) => this.textMatch(w)),
          sql` or `,
        )})`,
      );
    return sql.join(parts, sql` and `);
  }

  term(term: Term): Bool {
    const column = DEVICE_COLUMNS[`${term.scope}/${term.name}`];
    return column ? columnCondition(column, term.condition, this.dialect) : this.attributeCondition(term);
  }

  private exists(term: Term, row: Bool): Bool {
    return sql`exists (select 1 from attributes a where a.tenant_id = d.tenant_id and a.device_id = d.id
      and a.scope = ${term.scope} and a.name = ${term.name} and ${row})`;
  }

  private attributeCondition(term: Term): Bool {
    const c = term.condition;
    const any = (row: Bool) => this.exists(term, row);
    const not = (b: Bool, negate: boolean) => (negate ? sql`not (${b})` : b);
    switch (c.kind) {
      case 'eq':
        return not(any(valueEquals(c.value)), c.negate);
      case 'eqArray': {
        if (c.values.length === 0) {
          return not(any(sql`a.is_array = 1 and a.value_str is null and a.value_num is null`), c.negate);
        }
        const each = c.values.map((v, i) => any(sql`a.is_array = 1 and a.idx = ${i} and ${valueEquals(v)}`));
        const noMore = sql`not ${any(sql`a.idx >= ${c.values.length}`)}`;
        return not(sql`(${sql.join([...each, noMore], sql` and `)})`, c.negate);
      }
      case 'in':
        return not(any(valueIn(c.values)), c.negate);
      case 'range': {
        const compared =
          typeof c.value === 'string'
            ? any(sql`a.value_str ${sql.raw(c.op)} ${c.value}`)
            : typeof c.value === 'number'
              ? any(sql`a.value_num ${sql.raw(c.op)} ${c.value}`)
              : FALSE;
        return c.orMissing ? sql`(${compared} or not ${any(TRUE)})` : compared;
      }
      case 'exists':
        return c.exists ? any(TRUE) : sql`not ${any(TRUE)}`;
      case 'regex':
        return c.valid ? any(regexMatch(sql.ref('a.value_str'), c.pattern, c.caseInsensitive, this.dialect)) : FALSE;
      case 'eqText':
        return any(
          c.number === undefined
            ? sql`a.value_str = ${c.text}`
            : sql`(a.value_str = ${c.text} or a.value_num = ${c.number})`,
        );
      case 'prefix':
        return any(prefixMatch(sql.ref('a.value_str'), c.prefix));
    }
  }

  private textMatch(word: string): Bool {
    const pattern = `%${word.toLowerCase().replace(/[\\%_]/g, (m) => `\\${m}`)}%`;
    return sql`(lower(d.id) like ${pattern} escape '\\' or exists (select 1 from attributes a
      where a.tenant_id = d.tenant_id and a.device_id = d.id and a.scope in ('identity', 'inventory', 'tags')
      and lower(a.value_str) like ${pattern} escape '\\'))`;
  }

  /**
   * MongoDB orders missing values first, then numbers, then strings (ascending); an attribute sorts by its
   * first value (idx 0).
   */
  private orderBy(criterion: SortCriterion, i: number, joins: RawBuilder<unknown>[], order: RawBuilder<unknown>[]) {
    const dir = sql.raw(criterion.ascending ? 'asc' : 'desc');
    const column = DEVICE_COLUMNS[`${criterion.scope}/${criterion.name}`];
    if (column) {
      order.push(sql`${column} ${dir}`);
      return;
    }
    const s = sql.raw(`s${i}`);
    joins.push(sql`left join attributes ${s} on ${s}.tenant_id = d.tenant_id and ${s}.device_id = d.id
      and ${s}.scope = ${criterion.scope} and ${s}.name = ${criterion.name} and ${s}.idx = 0`);
    order.push(
      sql`case when ${s}.value_num is not null then 1 when ${s}.value_str is not null then 2 else 0 end ${dir}`,
      sql`${s}.value_num ${dir}`,
      sql`${s}.value_str ${dir}`,
    );
  }
}

function valueEquals(value: Scalar | boolean): Bool {
  if (typeof value === 'boolean') return sql`a.value_bool = ${value ? 1 : 0}`;
  return typeof value === 'string' ? sql`a.value_str = ${value}` : sql`a.value_num = ${value}`;
}

function valueIn(values: (Scalar | boolean)[]): Bool {
  const strings = values.filter((v): v is string => typeof v === 'string');
  const numbers = values.filter((v): v is number => typeof v === 'number');
  const booleans = values.filter((v): v is boolean => typeof v === 'boolean');
  const parts: Bool[] = [];
  if (booleans.length) parts.push(sql`a.value_bool in (${sql.join(booleans.map((b) => (b ? 1 : 0)))})`);
  if (strings.length) parts.push(sql`a.value_str in (${sql.join(strings)})`);
  if (numbers.length) parts.push(sql`a.value_num in (${sql.join(numbers)})`);
  return parts.length ? sql`(${sql.join(parts, sql` or `)})` : FALSE;
}

/**
 * SQLite's REGEXP operator calls the `regexp(pattern, value)` function registered on the connection
 * (JavaScript RegExp); PostgreSQL's `~` is its own ARE dialect, close to Perl's. Both read a leading `(?i)`
 * as case-insensitive.
 */
function regexMatch(value: RawBuilder<unknown>, pattern: string, caseInsensitive: boolean, dialect: DialectName): Bool {
  const full = caseInsensitive ? `(?i)${pattern}` : pattern;
  return dialect === 'postgres' ? sql`${value} ~ ${full}` : sql`${value} regexp ${full}`;
}

function prefixMatch(value: RawBuilder<unknown>, prefix: string): Bool {
  // The range bound lets the (C-collated / binary) value index narrow the scan; substr makes it exact.
  return sql`${value} >= ${prefix} and substr(${value}, 1, ${[...prefix].length}) = ${prefix}`;
}

function columnCondition(column: RawBuilder<unknown>, c: Condition, dialect: DialectName): Bool {
  const not = (b: Bool, negate: boolean) => (negate ? sql`not (${b})` : b);
  switch (c.kind) {
    case 'eq':
      return not(typeof c.value === 'string' ? sql`${column} = ${c.value}` : FALSE, c.negate);
    case 'eqArray':
      return c.negate ? TRUE : FALSE;
    case 'in': {
      const strings = c.values.filter((v): v is string => typeof v === 'string');
      return not(strings.length ? sql`${column} in (${sql.join(strings)})` : FALSE, c.negate);
    }
    case 'range':
      return typeof c.value === 'string' ? sql`${column} ${sql.raw(c.op)} ${c.value}` : FALSE;
    case 'exists':
      return c.exists ? TRUE : FALSE;
    case 'regex':
      return c.valid ? regexMatch(column, c.pattern, c.caseInsensitive, dialect) : FALSE;
    case 'eqText':
      return sql`${column} = ${c.text}`;
    case 'prefix':
      return prefixMatch(column, c.prefix);
  }
}
