# Khu hub image.
#
#   docker build -t khu:local .        (or: docker-compose build)
#   docker run -d --network host -v khu-data:/data -e KHU_ADMIN_PASSWORD=… khu:local
#
# Plain Dockerfile syntax (no BuildKit-only features), so the classic builder works too.
# ffmpeg comes from Debian's package; no other binaries are fetched, except better-sqlite3's
# prebuilt addon when one matches (otherwise it is compiled here with python3/make/g++).

ARG NODE_IMAGE=node:20-bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

# Compile native addons against the headers shipped in the image instead of downloading them.
ENV npm_config_nodedir=/usr/local \
    npm_config_audit=false \
    npm_config_fund=false \
    npm_config_update_notifier=false

# Dependencies first, so that editing the sources does not reinstall them. --ignore-scripts
# because the package's own "prepare" script builds the TypeScript, which is not copied yet;
# better-sqlite3 is the only dependency with an install script, so it is rebuilt explicitly.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts \
 && npm rebuild better-sqlite3

COPY . .
RUN npm run build \
 && npm prune --omit=dev \
 && rm -rf test

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/* \
 && ffmpeg -hide_banner -version | head -n 1

ENV NODE_ENV=production \
    KHU_DATA_DIR=/data \
    KHU_HTTP_PORT=8080 \
    KHU_MQTT_PORT=1883

WORKDIR /app
# The application stays owned by root (read-only for the hub); only /data is writable.
COPY --from=build /app /app

RUN mkdir -p /data \
 && chown node:node /data

VOLUME /data
# HTTP (API and residents' web app), MQTT (relays).
EXPOSE 8080 1883

USER node

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.KHU_HTTP_PORT||8080)+'/api/health',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

CMD ["node", "--max-semi-space-size=2", "--heap-growing-percent=25", "dist/hub/src/main.js"]
