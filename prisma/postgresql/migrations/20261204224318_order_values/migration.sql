-- AlterTable
ALTER TABLE "OutboxEvent" ADD COLUMN     "currency" TEXT,
ADD COLUMN     "orderSource" TEXT,
ADD COLUMN     "value" DOUBLE PRECISION;
