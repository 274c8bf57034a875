-- AlterTable
ALTER TABLE "Shop" ADD COLUMN "routingRule" JSONB;

-- CreateTable
CREATE TABLE "Destination" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "shopId" TEXT NOT NULL,
    "pixelId" TEXT NOT NULL,
    "pixelName" TEXT,
    "tokenCiphertext" TEXT NOT NULL,
    "tokenKeyId" TEXT NOT NULL,
    "tokenLast4" TEXT NOT NULL,
    "testEventCode" TEXT,
    "testEventCodeSetAt" DATETIME,
    "graphApiVersion" TEXT,
    "rule" JSONB NOT NULL,
    "pausedReason" TEXT,
    "pausedDetail" TEXT,
    "pausedAt" DATETIME,
    "sendNotBefore" DATETIME,
    "lastDeliveryAt" DATETIME,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "Destination_shopId_fkey" FOREIGN KEY ("shopId") REFERENCES "Shop" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_OutboxEvent" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "shopId" TEXT NOT NULL,
    "eventName" TEXT NOT NULL,
    "eventId" TEXT NOT NULL,
    "source" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "destinationId" TEXT,
    "lane" TEXT NOT NULL DEFAULT '',
    "suppressReason" TEXT,
    "actionSource" TEXT NOT NULL,
    "eventTime" DATETIME NOT NULL,
    "payload" JSONB NOT NULL,
    "clientIp" TEXT,
    "clientUserAgent" TEXT,
    "countryCode" TEXT,
    "provinceCode" TEXT,
    "consent" JSONB,
    "lduApplied" BOOLEAN NOT NULL DEFAULT false,
    "orderId" TEXT,
    "orderName" TEXT,
    "checkoutToken" TEXT,
    "orderSource" TEXT,
    "value" REAL,
    "currency" TEXT,
    "customerKey" TEXT,
    "emailHash" TEXT,
    "phoneHash" TEXT,
    "holdUntil" DATETIME,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "ambiguousSends" INTEGER NOT NULL DEFAULT 0,
    "nextAttemptAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "leaseOwner" TEXT,
    "leaseUntil" DATETIME,
    "lastErrorCode" INTEGER,
    "lastErrorSubcode" INTEGER,
    "lastErrorMessage" TEXT,
    "lastFbtraceId" TEXT,
    "metaResponse" JSONB,
    "browserSeenAt" DATETIME,
    "browserValue" REAL,
    "browserCurrency" TEXT,
    "missingKeys" TEXT,
    "receivedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "releasedAt" DATETIME,
    "sentAt" DATETIME,
    "finalAt" DATETIME,
    "updatedAt" DATETIME NOT NULL,
    "sentWithIp" BOOLEAN NOT NULL DEFAULT false,
    "sentWithUserAgent" BOOLEAN NOT NULL DEFAULT false,
    CONSTRAINT "OutboxEvent_shopId_fkey" FOREIGN KEY ("shopId") REFERENCES "Shop" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
INSERT INTO "new_OutboxEvent" ("actionSource", "ambiguousSends", "attempts", "browserCurrency", "browserSeenAt", "browserValue", "checkoutToken", "clientIp", "clientUserAgent", "consent", "countryCode", "currency", "customerKey", "emailHash", "eventId", "eventName", "eventTime", "finalAt", "holdUntil", "id", "lastErrorCode", "lastErrorMessage", "lastErrorSubcode", "lastFbtraceId", "lduApplied", "leaseOwner", "leaseUntil", "metaResponse", "missingKeys", "nextAttemptAt", "orderId", "orderName", "orderSource", "payload", "phoneHash", "provinceCode", "receivedAt", "releasedAt", "sentAt", "sentWithIp", "sentWithUserAgent", "shopId", "source", "status", "suppressReason", "updatedAt", "value") SELECT "actionSource", "ambiguousSends", "attempts", "browserCurrency", "browserSeenAt", "browserValue", "checkoutToken", "clientIp", "clientUserAgent", "consent", "countryCode", "currency", "customerKey", "emailHash", "eventId", "eventName", "eventTime", "finalAt", "holdUntil", "id", "lastErrorCode", "lastErrorMessage", "lastErrorSubcode", "lastFbtraceId", "lduApplied", "leaseOwner", "leaseUntil", "metaResponse", "missingKeys", "nextAttemptAt", "orderId", "orderName", "orderSource", "payload", "phoneHash", "provinceCode", "receivedAt", "releasedAt", "sentAt", "sentWithIp", "sentWithUserAgent", "shopId", "source", "status", "suppressReason", "updatedAt", "value" FROM "OutboxEvent";
DROP TABLE "OutboxEvent";
ALTER TABLE "new_OutboxEvent" RENAME TO "OutboxEvent";
CREATE INDEX "OutboxEvent_shopId_destinationId_status_nextAttemptAt_idx" ON "OutboxEvent"("shopId", "destinationId", "status", "nextAttemptAt");
CREATE INDEX "OutboxEvent_shopId_status_nextAttemptAt_idx" ON "OutboxEvent"("shopId", "status", "nextAttemptAt");
CREATE INDEX "OutboxEvent_shopId_receivedAt_idx" ON "OutboxEvent"("shopId", "receivedAt");
CREATE INDEX "OutboxEvent_shopId_checkoutToken_idx" ON "OutboxEvent"("shopId", "checkoutToken");
CREATE INDEX "OutboxEvent_shopId_orderId_idx" ON "OutboxEvent"("shopId", "orderId");
CREATE INDEX "OutboxEvent_status_holdUntil_idx" ON "OutboxEvent"("status", "holdUntil");
CREATE INDEX "OutboxEvent_status_eventTime_idx" ON "OutboxEvent"("status", "eventTime");
CREATE INDEX "OutboxEvent_shopId_status_receivedAt_idx" ON "OutboxEvent"("shopId", "status", "receivedAt");
CREATE INDEX "OutboxEvent_shopId_eventName_receivedAt_idx" ON "OutboxEvent"("shopId", "eventName", "receivedAt");
CREATE INDEX "OutboxEvent_shopId_orderName_idx" ON "OutboxEvent"("shopId", "orderName");
CREATE UNIQUE INDEX "OutboxEvent_shopId_eventName_eventId_lane_key" ON "OutboxEvent"("shopId", "eventName", "eventId", "lane");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

-- CreateIndex
CREATE UNIQUE INDEX "Destination_shopId_pixelId_key" ON "Destination"("shopId", "pixelId");
