// Audit logs (Mender's auditlogs service): one append-only row per management change, written in the change's own
// transaction. Only the retention prune deletes rows; no route changes one.

export type AuditActorType = 'user' | 'device';
/** Mender's object types, and Flotilla's `personal_access_token`, `release` and `role` (id: their name). */
export type AuditObjectType =
  | 'tenant'
  | 'user'
  | 'deployment'
  | 'artifact'
  | 'device'
  | 'personal_access_token'
  | 'release'
  | 'role';

export interface AuditLogTable {
  tenant_id: string;
  id: string;
  /** When the change committed, as an ISO string in UTC with milliseconds (sorts as text on both dialects). */
  time: string;
  actor_type: AuditActorType;
  actor_id: string;
  actor_email: string | null;
  /** The personal access token or login session the user acted through (not shown by Mender; kept for forensics). */
  actor_token_id: string | null;
  action: string;
  object_type: AuditObjectType;
  object_id: string;
  /** A deployment object's name, kept in its own column for the `object_deployment_name` filter. */
  object_deployment_name: string | null;
  /** The object's descriptors beyond type and id (`user`, `deployment`, `artifact`, `device`) as JSON text. */
  object_json: string | null;
  change: string | null;
  /** Mender's `meta` (e.g. `session_id` of a terminal session) as JSON text. */
  meta_json: string | null;
}

declare module '../store/schema.js' {
  interface Tables {
    audit_logs: AuditLogTable;
  }
}
