-- CreateTable
CREATE TABLE "ShopperLink" (
    "shopId" TEXT NOT NULL,
    "clientId" TEXT NOT NULL,
    "userData" JSONB NOT NULL,
    "customerKey" TEXT,
    "emailHash" TEXT,
    "phoneHash" TEXT,
    "linkedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "ShopperLink_pkey" PRIMARY KEY ("shopId","clientId")
);

-- CreateIndex
CREATE INDEX "ShopperLink_linkedAt_idx" ON "ShopperLink"("linkedAt");

-- AddForeignKey
ALTER TABLE "ShopperLink" ADD CONSTRAINT "ShopperLink_shopId_fkey" FOREIGN KEY ("shopId") REFERENCES "Shop"("id") ON DELETE CASCADE ON UPDATE CASCADE;
