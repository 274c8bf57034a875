-- AlterTable
ALTER TABLE "Shop" ADD COLUMN "largestOrderValues" JSONB;

-- CreateTable
CREATE TABLE "BrowserClient" (
    "shopId" TEXT NOT NULL,
    "clientId" TEXT NOT NULL,
    "seenAt" DATETIME NOT NULL,

    PRIMARY KEY ("shopId", "clientId"),
    CONSTRAINT "BrowserClient_shopId_fkey" FOREIGN KEY ("shopId") REFERENCES "Shop" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE INDEX "BrowserClient_seenAt_idx" ON "BrowserClient"("seenAt");
