-- AlterTable
ALTER TABLE "Shop" ADD COLUMN     "salesCountry" TEXT;

-- CreateTable
CREATE TABLE "OrderState" (
    "shopId" TEXT NOT NULL,
    "orderId" TEXT NOT NULL,
    "orderUpdatedAt" TIMESTAMP(3) NOT NULL,
    "value" DOUBLE PRECISION,
    "currency" TEXT,
    "customData" JSONB NOT NULL,
    "receivedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "OrderState_pkey" PRIMARY KEY ("shopId","orderId")
);

-- CreateTable
CREATE TABLE "OrderRefund" (
    "shopId" TEXT NOT NULL,
    "refundId" TEXT NOT NULL,
    "orderId" TEXT NOT NULL,
    "amount" DOUBLE PRECISION NOT NULL,
    "currency" TEXT,
    "refundedAt" TIMESTAMP(3) NOT NULL,
    "receivedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "OrderRefund_pkey" PRIMARY KEY ("shopId","refundId")
);

-- CreateIndex
CREATE INDEX "OrderRefund_shopId_orderId_idx" ON "OrderRefund"("shopId", "orderId");

-- CreateIndex
CREATE INDEX "OrderRefund_shopId_refundedAt_idx" ON "OrderRefund"("shopId", "refundedAt");

-- AddForeignKey
ALTER TABLE "OrderState" ADD CONSTRAINT "OrderState_shopId_fkey" FOREIGN KEY ("shopId") REFERENCES "Shop"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "OrderRefund" ADD CONSTRAINT "OrderRefund_shopId_fkey" FOREIGN KEY ("shopId") REFERENCES "Shop"("id") ON DELETE CASCADE ON UPDATE CASCADE;
