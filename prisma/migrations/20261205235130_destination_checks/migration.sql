-- AlterTable
ALTER TABLE "Destination" ADD COLUMN "connectedAt" DATETIME;
ALTER TABLE "Destination" ADD COLUMN "pauseNotifiedAt" DATETIME;
