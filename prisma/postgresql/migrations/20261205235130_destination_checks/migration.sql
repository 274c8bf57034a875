-- AlterTable
ALTER TABLE "Destination" ADD COLUMN     "connectedAt" TIMESTAMP(3),
ADD COLUMN     "pauseNotifiedAt" TIMESTAMP(3);
