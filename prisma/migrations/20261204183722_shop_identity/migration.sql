-- AlterTable
ALTER TABLE "Shop" ADD COLUMN "primaryDomain" TEXT;
ALTER TABLE "Shop" ADD COLUMN "shopifyId" TEXT;
