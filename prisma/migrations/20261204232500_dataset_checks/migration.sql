-- CreateTable
CREATE TABLE "DatasetCheck" (
    "shopId" TEXT NOT NULL,
    "pixelId" TEXT NOT NULL,
    "checkedAt" DATETIME NOT NULL,
    "tokenStatus" TEXT NOT NULL,
    "tokenExpiresAt" DATETIME,
    "tokenDetail" TEXT,
    "noticeKey" TEXT,
    "noticeSentAt" DATETIME,
    "senders" JSONB,
    "sendersError" TEXT,
    "quality" JSONB,
    "qualityError" TEXT,
    "qualityAt" DATETIME,

    PRIMARY KEY ("shopId", "pixelId"),
    CONSTRAINT "DatasetCheck_shopId_fkey" FOREIGN KEY ("shopId") REFERENCES "Shop" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
