-- AlterTable
ALTER TABLE "Shop" ADD COLUMN     "largestOrderValues" JSONB;

-- CreateTable
CREATE TABLE "BrowserClient" (
    "shopId" TEXT NOT NULL,
    "clientId" TEXT NOT NULL,
    "seenAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "BrowserClient_pkey" PRIMARY KEY ("shopId","clientId")
);

-- CreateIndex
CREATE INDEX "BrowserClient_seenAt_idx" ON "BrowserClient"("seenAt");

-- AddForeignKey
ALTER TABLE "BrowserClient" ADD CONSTRAINT "BrowserClient_shopId_fkey" FOREIGN KEY ("shopId") REFERENCES "Shop"("id") ON DELETE CASCADE ON UPDATE CASCADE;
