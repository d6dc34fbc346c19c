# Ferry in a container: Node LTS, the PostgreSQL client tools, and Ferry installed exactly as the
# npm path of docs/install.md (npm pack, then npm install -g --omit=dev), the path .ci/install-paths.sh
# tests. No Docker engine runs on Ferry's CI machines: the image itself is not built there.
#   docker build -t ferry:0.1.0 .
#   docker run --rm -e DATABASE_URL=... -v /srv/backups:/backups -e BACKUP_DIRECTORY=/backups ferry:0.1.0 backup
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS pack
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# prepack builds dist/ with tsc; the tarball holds dist/ and package.json only.
RUN npm pack --pack-destination /tmp

FROM ${NODE_IMAGE}
# pg_dump must be at least as new as the server it dumps: bookworm ships 15. For a newer server, add
# PostgreSQL's own apt repository (PGDG) and install postgresql-client-<major> instead.
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client-15 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=pack /tmp/ferry-*.tgz /tmp/
RUN npm install -g /tmp/ferry-*.tgz --omit=dev --no-audit --no-fund \
 && rm /tmp/ferry-*.tgz \
 && npm cache clean --force
USER node
WORKDIR /work
ENTRYPOINT ["ferry"]
CMD ["--help"]
