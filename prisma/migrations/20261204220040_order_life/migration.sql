-- AlterTable
ALTER TABLE "Shop" ADD COLUMN "salesCountry" TEXT;

-- CreateTable
CREATE TABLE "OrderState" (
    "shopId" TEXT NOT NULL,
    "orderId" TEXT NOT NULL,
    "orderUpdatedAt" DATETIME NOT NULL,
    "value" REAL,
    "currency" TEXT,
    "customData" JSONB NOT NULL,
    "receivedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,

    PRIMARY KEY ("shopId", "orderId"),
    CONSTRAINT "OrderState_shopId_fkey" FOREIGN KEY ("shopId") REFERENCES "Shop" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "OrderRefund" (
    "shopId" TEXT NOT NULL,
    "refundId" TEXT NOT NULL,
    "orderId" TEXT NOT NULL,
    "amount" REAL NOT NULL,
    "currency" TEXT,
    "refundedAt" DATETIME NOT NULL,
    "receivedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,

    PRIMARY KEY ("shopId", "refundId"),
    CONSTRAINT "OrderRefund_shopId_fkey" FOREIGN KEY ("shopId") REFERENCES "Shop" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateIndex
CREATE INDEX "OrderRefund_shopId_orderId_idx" ON "OrderRefund"("shopId", "orderId");

-- CreateIndex
CREATE INDEX "OrderRefund_shopId_refundedAt_idx" ON "OrderRefund"("shopId", "refundedAt");
