// Prisma CLI configuration. DATABASE_URL picks the provider:
//   unset / file:...          → SQLite:     prisma/schema.prisma,            prisma/migrations
//   postgresql://...          → PostgreSQL: prisma/postgresql/schema.prisma, prisma/postgresql/migrations
// `engine: "js"` + `adapter()` make the CLI use the Wasm schema engine shipped in the `prisma` package over a
// JS driver adapter (no binary download). A config file disables Prisma's .env loading: DATABASE_URL comes
// from the environment, defaulting to file:./.data/dev.sqlite (relative to the working directory).
import fs from "node:fs";
import path from "node:path";
import { defineConfig } from "prisma/config";
import { classifyDatabaseUrl, resolveDatabaseUrl } from "./app/dbUrl";
import { migrationAdapterFactory } from "./prisma/migrateAdapter";

const url = resolveDatabaseUrl();
// The schemas read env("DATABASE_URL"): make the default visible to them.
process.env.DATABASE_URL = url;
const target = classifyDatabaseUrl(url);
if (target.provider === "sqlite" && target.filename !== ":memory:") {
  fs.mkdirSync(path.dirname(target.filename), { recursive: true });
}
const postgres = target.provider === "postgresql";

export default defineConfig({
  experimental: { adapter: true },
  engine: "js",
  schema: postgres ? "prisma/postgresql/schema.prisma" : "prisma/schema.prisma",
  migrations: {
    path: postgres ? "prisma/postgresql/migrations" : "prisma/migrations",
  },
  adapter: () => migrationAdapterFactory(target),
});
