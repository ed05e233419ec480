# chainfsm: the agent that chains a CNI plugin after the node's primary CNI config.
# Build: scripts/build-image (buildah, no Docker engine needed), or
#   docker build --build-arg BASE_IMAGE=python:3.12-slim -t chainfsm .
# The build stage needs a Debian-based image with python3 (>= 3.11), its venv module, pip and
# ldd: the official python:*-slim images, or the Debian base scripts/build-image makes with
# debootstrap when no registry is reachable. The final stage is built from scratch.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_CONSTRAINT=/src/requirements.lock
# A venv without pip of its own: the base's pip installs into it, so the venv we copy holds
# only chainfsm and its dependencies, at the versions requirements.lock pins (PIP_CONSTRAINT
# also pins the build backend pip fetches to build chainfsm's wheel).
RUN python3 -m venv --without-pip /opt/venv
COPY requirements.lock pyproject.toml README.md /src/
COPY chainfsm /src/chainfsm
RUN python3 -m pip --python /opt/venv/bin/python install /src \
 && /opt/venv/bin/python -c "import chainfsm.cli.commands"
# The final root: the interpreter, the standard library modules chainfsm can import, the
# shared libraries they link, the venv, users root and chainfsm (10001), /tmp and
# /run/chainfsm (owned by 10001). See image/rootfs.py.
COPY image/rootfs.py /src/image/rootfs.py
RUN /opt/venv/bin/python /src/image/rootfs.py /opt/venv /rootfs

# No shell, no package manager, no pip: only what the agent runs on.
FROM scratch
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
# Owners and modes as rootfs.py set them (/run/chainfsm is the image user's). On nodes
# /etc/cni/net.d is root-owned, so the Kubernetes manifests run as uid 0 with every
# capability dropped instead: see deploy/base/daemonset.yaml. /run/chainfsm holds the ready
# file and state dumps; on Kubernetes an emptyDir is mounted there so the root filesystem
# can stay read-only.
COPY --from=build /rootfs /
ENV PATH=/opt/venv/bin \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CHAINFSM_READY_FILE=/run/chainfsm/ready
LABEL org.opencontainers.image.title="chainfsm" \
      org.opencontainers.image.description="Chains a CNI plugin (Antrea by default) after the node's primary CNI config, as a state machine that never leaves a broken file." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0"
USER 10001:10001
WORKDIR /
# The agent stops cleanly on SIGTERM (exit 0, leaving the chain in place).
STOPSIGNAL SIGTERM
# Healthy = the agent's chain is Verified. The agent keeps CHAINFSM_READY_FILE present only
# while Verified. There is no shell or `test` in the image: the interpreter answers, started
# with -I -S (no site, no imports beyond its own start-up: a few milliseconds), so health
# checks need neither --listen nor chainfsm's imports. The HTTP /readyz is what the Kubernetes
# probes use. A one-shot `run --once` or `--help` container never gets healthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "-I", "-S", "-c", "import os, sys; sys.exit(not os.path.exists(os.environ['CHAINFSM_READY_FILE']))"]
ENTRYPOINT ["chainfsm"]
CMD ["run"]
