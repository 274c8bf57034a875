-- CreateTable
CREATE TABLE "DatasetCheck" (
    "shopId" TEXT NOT NULL,
    "pixelId" TEXT NOT NULL,
    "checkedAt" TIMESTAMP(3) NOT NULL,
    "tokenStatus" TEXT NOT NULL,
    "tokenExpiresAt" TIMESTAMP(3),
    "tokenDetail" TEXT,
    "noticeKey" TEXT,
    "noticeSentAt" TIMESTAMP(3),
    "senders" JSONB,
    "sendersError" TEXT,
    "quality" JSONB,
    "qualityError" TEXT,
    "qualityAt" TIMESTAMP(3),

    CONSTRAINT "DatasetCheck_pkey" PRIMARY KEY ("shopId","pixelId")
);

-- AddForeignKey
ALTER TABLE "DatasetCheck" ADD CONSTRAINT "DatasetCheck_shopId_fkey" FOREIGN KEY ("shopId") REFERENCES "Shop"("id") ON DELETE CASCADE ON UPDATE CASCADE;
