const Database = require("better-sqlite3");
const { Worker } = require("node:worker_threads");
const fs = require("fs");
const f = "/tmp/mb.db"; for (const s of ["", "-wal", "-shm"]) fs.rmSync(f + s, { force: true });
const db = new Database(f);
db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 20000;");
db.exec(`CREATE TABLE "ShopperLink" ("shopId" TEXT NOT NULL, "clientId" TEXT NOT NULL, "userData" JSONB NOT NULL, "linkedAt" DATETIME NOT NULL, PRIMARY KEY ("shopId","clientId"));
CREATE TABLE t (id TEXT PRIMARY KEY, a TEXT, b TEXT, c TEXT); CREATE INDEX t1 ON t(b); CREATE INDEX t2 ON t(c);`);
const w = new Worker(`const D=require(${JSON.stringify(require.resolve("better-sqlite3"))});const db=new D("/tmp/mb.db");setInterval(()=>db.pragma("wal_checkpoint(PASSIVE)"),250);`, { eval: true }); w.unref();
const get = db.prepare(`SELECT "userData", "linkedAt" FROM "ShopperLink" WHERE "shopId" = ? AND "clientId" = ?`);
const ins = db.prepare(`INSERT INTO t VALUES (?, ?, ?, ?)`);
const group = db.transaction((n, k) => { for (let i = 0; i < n; i++) ins.run("x" + k + "-" + i, "a".repeat(600), "b" + Math.random(), "c" + Math.random()); });
const readTx = db.transaction((n) => { for (let i = 0; i < n; i++) get.get("shop1", "bench-" + i); });
let k = 0;
async function run(mode, turns) {
  let readNs = 0n;
  for (let t = 0; t < turns; t++) {
    group.immediate(30, k++);
    const s = process.hrtime.bigint();
    if (mode === "auto") for (let i = 0; i < 25; i++) get.get("shop1", "bench-" + i);
    else readTx(25);
    readNs += process.hrtime.bigint() - s;
    await new Promise((r) => setImmediate(r));
  }
  console.log(mode, Number(readNs) / turns / 25 / 1000, "us per read");
}
(async () => { for (const m of ["auto", "tx", "auto", "tx"]) await run(m, 2000); process.exit(0); })();
