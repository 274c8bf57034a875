-- AlterTable
ALTER TABLE "Shop" ADD COLUMN     "contactEmail" TEXT;
