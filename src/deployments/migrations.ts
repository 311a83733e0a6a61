import type { Migration } from 'kysely';

export const deploymentMigrations: Record<string, Migration> = {};
