# syntax=docker/dockerfile:1
# ssod in a container: the build stage makes dist/ssod.mjs, the runtime stage
# holds only that one file on a slim Node image, run as a non-root user.
# Both on Node 24, a supported LTS line (SPEC §4: Node 20 reached its end of life).

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY drizzle ./drizzle
COPY scripts ./scripts
RUN npm ci --no-audit --no-fund && npm run build

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    SSOD_DATABASE_URL=file:/data/ssod.db \
    SSOD_HOST=0.0.0.0 \
    SSOD_PORT=8080
WORKDIR /app
COPY --from=build /src/dist/ssod.mjs /app/ssod.mjs
# The store (and its master key file) live on the volume, owned by the runtime user.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "/app/ssod.mjs", "serve"]
