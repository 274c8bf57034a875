-- DropIndex
DROP INDEX "OutboxEvent_shopId_eventName_eventId_key";

-- AlterTable
ALTER TABLE "OutboxEvent" ADD COLUMN     "destinationId" TEXT,
ADD COLUMN     "lane" TEXT NOT NULL DEFAULT '';

-- AlterTable
ALTER TABLE "Shop" ADD COLUMN     "routingRule" JSONB;

-- CreateTable
CREATE TABLE "Destination" (
    "id" TEXT NOT NULL,
    "shopId" TEXT NOT NULL,
    "pixelId" TEXT NOT NULL,
    "pixelName" TEXT,
    "tokenCiphertext" TEXT NOT NULL,
    "tokenKeyId" TEXT NOT NULL,
    "tokenLast4" TEXT NOT NULL,
    "testEventCode" TEXT,
    "testEventCodeSetAt" TIMESTAMP(3),
    "graphApiVersion" TEXT,
    "rule" JSONB NOT NULL,
    "pausedReason" TEXT,
    "pausedDetail" TEXT,
    "pausedAt" TIMESTAMP(3),
    "sendNotBefore" TIMESTAMP(3),
    "lastDeliveryAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "Destination_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Destination_shopId_pixelId_key" ON "Destination"("shopId", "pixelId");

-- CreateIndex
CREATE INDEX "OutboxEvent_shopId_destinationId_status_nextAttemptAt_idx" ON "OutboxEvent"("shopId", "destinationId", "status", "nextAttemptAt");

-- CreateIndex
CREATE UNIQUE INDEX "OutboxEvent_shopId_eventName_eventId_lane_key" ON "OutboxEvent"("shopId", "eventName", "eventId", "lane");

-- AddForeignKey
ALTER TABLE "Destination" ADD CONSTRAINT "Destination_shopId_fkey" FOREIGN KEY ("shopId") REFERENCES "Shop"("id") ON DELETE CASCADE ON UPDATE CASCADE;
