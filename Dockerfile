# Production image: build with every dependency, run with production ones only.
FROM node:22-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
# postinstall generates the Prisma clients from prisma/ and scripts/: copy the project first.
COPY . .
RUN npm install --no-audit --no-fund && npm run build && npm prune --omit=dev

FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app /app
EXPOSE 3000
# Migrations first (idempotent), then the server with its in-process dispatcher.
CMD ["sh", "-c", "node --import tsx scripts/db.ts deploy && node scripts/start.mjs"]
