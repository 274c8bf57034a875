-- AlterTable
ALTER TABLE "OutboxEvent" ADD COLUMN     "missingKeys" TEXT;
