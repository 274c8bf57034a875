-- AlterTable
ALTER TABLE "Shop" ADD COLUMN     "backfill" JSONB,
ADD COLUMN     "reconcileError" TEXT,
ADD COLUMN     "reconcileLeaseUntil" TIMESTAMP(3),
ADD COLUMN     "reconciledAt" TIMESTAMP(3),
ADD COLUMN     "reconciledThrough" TIMESTAMP(3);
