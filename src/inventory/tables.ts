// Inventory attributes, one row per value: a scalar is one row (idx 0); an array of N values is N rows
// (idx 0..N-1, is_array 1). That lets every filter operator run as an indexed SQL EXISTS on both dialects,
// with MongoDB-like semantics for arrays ($eq matches any element, $ne/$nin match when no element does).
export type AttributeScope = 'identity' | 'inventory' | 'system' | 'tags' | 'monitor';

export interface AttributeTable {
  tenant_id: string;
  device_id: string;
  scope: AttributeScope;
  name: string;
  idx: number;
  /** At most one of value_str / value_num / value_bool is set on each row; none for an empty array. */
  value_str: string | null;
  value_num: number | null;
  /** A boolean as 0 or 1: only server-written scopes hold them (devices report strings and numbers). */
  value_bool: number | null;
  is_array: number;
  description: string | null;
  updated_ts: string;
}

/** A saved inventory filter (dynamic group); terms are the v2 search filter terms as JSON. */
export interface InventoryFilterTable {
  tenant_id: string;
  id: string;
  name: string;
  terms_json: string;
  created_ts: string;
}

/**
 * The ETag of a device's `tags` scope: a new random value on every tag write, checked against If-Match.
 * A device that never had tags written has no row (and no ETag header), as in Mender.
 */
export interface InventoryTagsEtagTable {
  tenant_id: string;
  device_id: string;
  etag: string;
}

declare module '../store/schema.js' {
  interface Tables {
    attributes: AttributeTable;
    inventory_filters: InventoryFilterTable;
    inventory_tags_etags: InventoryTagsEtagTable;
  }
}
