// The database types the core works with. Both generated clients (SQLite and PostgreSQL) have the same models,
// so the SQLite client's types describe either; app/db.server.ts makes the instance.
export type {
  PrismaClient as Db,
  Prisma,
  OutboxEvent,
  Shop,
  Destination,
  DatasetCheck,
  BrowserContext,
} from ".prisma/client-sqlite";
