// Tables of users, their login sessions and personal access tokens, and the settings documents of useradm.
import { type Kysely, type Migration, sql } from 'kysely';

export const userMigrations: Record<string, Migration> = {
  '0010_users': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('users')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('roles', 'text', (c) => c.notNull().defaultTo('["RBAC_ROLE_PERMIT_ALL"]'))
        .addColumn('created_ts', 'text', (c) => c.notNull())
        .addColumn('updated_ts', 'text', (c) => c.notNull())
        .addColumn('login_ts', 'text')
        .execute();
      // A login names the user by email alone, so an email belongs to one user across all tenants, in any case.
      await db.schema.createIndex('users_email').on('users').unique().expression(sql`lower(email)`).execute();
      await db.schema.createIndex('users_tenant').on('users').columns(['tenant_id', 'created_ts']).execute();
      await db.schema
        .createTable('user_tokens')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('created_ts', 'text', (c) => c.notNull())
        .addColumn('expires_ts', 'text', (c) => c.notNull())
        .addColumn('last_used_ts', 'text')
        .execute();
      await db.schema.createIndex('user_tokens_user').on('user_tokens').columns(['tenant_id', 'user_id']).execute();
      // PAT names are unique per user; login sessions have no name (NULLs never collide in either dialect).
      await db.schema
        .createIndex('user_tokens_name')
        .on('user_tokens')
        .unique()
        .columns(['tenant_id', 'user_id', 'name'])
        .execute();
    },
  },
  '0011_user_settings': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('tenant_settings')
        .addColumn('tenant_id', 'text', (c) => c.primaryKey().references('tenants.id').onDelete('cascade'))
        .addColumn('etag', 'text', (c) => c.notNull())
        .addColumn('document', 'text', (c) => c.notNull())
        .addColumn('updated_ts', 'text', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('user_settings')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
        .addColumn('etag', 'text', (c) => c.notNull())
        .addColumn('document', 'text', (c) => c.notNull())
        .addColumn('updated_ts', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0100_user_token_parent': {
    async up(db: Kysely<unknown>) {
      // A PAT created with a PAT is its child: revoking the parent revokes the child (TokenStore.remove walks the
      // family so that every revoked id reaches the revocation feed; the cascade is the database's own guarantee).
      await db.schema
        .alterTable('user_tokens')
        .addColumn('parent_id', 'text', (c) => c.references('user_tokens.id').onDelete('cascade'))
        .execute();
      await db.schema.createIndex('user_tokens_parent').on('user_tokens').columns(['tenant_id', 'parent_id']).execute();
    },
  },
  '0120_roles': {
    async up(db: Kysely<unknown>) {
      // Custom roles; a role name is its id on the wire (Mender's GUI edits PUT /roles/{name}).
      await db.schema
        .createTable('roles')
        .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('permission_sets', 'text', (c) => c.notNull())
        .addColumn('created_ts', 'text', (c) => c.notNull())
        .addColumn('updated_ts', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('roles_pk', ['tenant_id', 'name'])
        .execute();
    },
  },
};
