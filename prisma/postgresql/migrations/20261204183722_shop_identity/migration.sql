-- AlterTable
ALTER TABLE "Shop" ADD COLUMN     "primaryDomain" TEXT,
ADD COLUMN     "shopifyId" TEXT;
