// The database's table types. Each domain folder adds its own tables to `Tables` by declaration merging
// (see e.g. src/tenants/tables.ts), so that a feature's schema lives in its folder.

// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging in each domain folder
export interface Tables {}
