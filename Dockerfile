# syntax=docker/dockerfile:1
# Build stage: install everything, compile TypeScript to dist/.
FROM node:20-bookworm-slim AS build
WORKDIR /app
# package.json's allowScripts keeps onnxruntime-node's CUDA download from running: its CPU
# binaries ship inside the package.
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
COPY web ./web
RUN npm run build && npm run build:web && npm prune --omit=dev

# Runtime stage: compiled JS and production dependencies only, as a non-root user.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production PORT=3000 DATA_DIR=/data
# The media pipeline's ffmpeg/ffprobe: Debian 12's 5.1, maintained by its security team.
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/web/dist ./web/dist
COPY package.json ./
COPY bin ./bin
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=6s --start-period=10s --retries=3 \
  CMD ["node", "bin/tremolo.js", "healthcheck", "--target", "127.0.0.1:3000", "--timeout", "5s", "--path", "/healthz"]
CMD ["node", "bin/tremolo.js", "serve"]
