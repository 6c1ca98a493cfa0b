import { defineConfig } from 'prisma/config';

// `prisma generate` needs no database. The URL is only read by Prisma's own migrate commands,
// which this project does not need (see src/db/migrator.ts), but keeps usable where installed.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://localhost:5432/postgres' },
});
