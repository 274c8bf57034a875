-- CreateTable
CREATE TABLE "ShopperLink" (
    "shopId" TEXT NOT NULL,
    "clientId" TEXT NOT NULL,
    "userData" JSONB NOT NULL,
    "customerKey" TEXT,
    "emailHash" TEXT,
    "phoneHash" TEXT,
    "linkedAt" DATETIME NOT NULL,

    PRIMARY KEY ("shopId", "clientId"),
    CONSTRAINT "ShopperLink_shopId_fkey" FOREIGN KEY ("shopId") REFERENCES "Shop" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE INDEX "ShopperLink_linkedAt_idx" ON "ShopperLink"("linkedAt");
